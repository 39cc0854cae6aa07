//! The server side: the streams echo server of the asyncio documentation on a loop of its own
//! (its own thread), plus chaos: a few handler tasks are cancelled at a random moment.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio::ThreadQueue;
use corio::runtime::StackStats;
use corio::streams::{self, StreamReader, StreamWriter};

use crate::probe::Rng;

/// Handler tasks cancelled per thousand connections.
pub const CANCEL_PER_MILLE: u64 = 30;
/// A cancelled handler is cancelled this long (at most) after its connection was accepted.
const CANCEL_WITHIN_MS: u64 = 40;

/// Client ports whose server task was cancelled: the client of that connection may see it
/// end early. The server adds a port before it cancels the task, and drops a stale entry when
/// a new connection from that port arrives.
pub type Cancelled = Arc<Mutex<HashSet<u16>>>;

/// What the client side asks the server loop.
#[derive(Debug)]
pub enum Command {
    /// Report the figures once every connection handler has ended (or after 20 s).
    Quiesce,
    /// Close the server and end the loop.
    Stop,
}

/// The server loop's figures.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub addr: SocketAddr,
    pub tasks: usize,
    pub stacks: StackStats,
    pub active_connections: usize,
    pub cancels: u64,
}

/// The server's end of the two queues.
pub struct Link {
    pub commands: ThreadQueue<Command>,
    pub figures: ThreadQueue<Figures>,
}

/// Starts the server loop on a thread of its own; its first figures (the quiet start) come
/// back on `figures` once it listens.
pub fn start(seed: u64, cancelled: Cancelled) -> (std::thread::JoinHandle<()>, Link) {
    let link = Link {
        commands: ThreadQueue::new(0),
        figures: ThreadQueue::new(0),
    };
    let (commands, figures) = (link.commands.clone(), link.figures.clone());
    let thread = std::thread::Builder::new()
        .name("soak-server".into())
        .spawn(move || corio::run(move || serve(seed, cancelled, commands, figures)))
        .expect("the server thread starts");
    (thread, link)
}

struct Chaos {
    rng: std::cell::RefCell<Rng>,
    cancelled: Cancelled,
    cancels: std::cell::Cell<u64>,
}

fn serve(
    seed: u64,
    cancelled: Cancelled,
    commands: ThreadQueue<Command>,
    figures: ThreadQueue<Figures>,
) {
    let chaos = Rc::new(Chaos {
        rng: std::cell::RefCell::new(Rng::derive(seed, u64::MAX)),
        cancelled,
        cancels: std::cell::Cell::new(0),
    });
    let c = chaos.clone();
    let server = streams::start_server("127.0.0.1:0", move |r: StreamReader, w: StreamWriter| {
        handle(&c, r, w)
    })
    .expect("the echo server listens");
    let addr = server.local_addr().expect("a TCP server has an address");
    let report = |chaos: &Chaos| Figures {
        addr,
        tasks: corio::tasks().len(),
        stacks: corio::get_running_loop().stack_stats(),
        active_connections: server.active_connections(),
        cancels: chaos.cancels.get(),
    };
    figures
        .put(report(&chaos))
        .expect("the figures queue is open");
    while let Ok(cmd) = commands.get() {
        match cmd {
            Command::Quiesce => {
                let _ = corio::wait_for(Duration::from_secs(20), || {
                    while server.active_connections() > 0 {
                        corio::sleep(Duration::from_millis(10));
                    }
                });
                corio::yield_now();
                figures
                    .put(report(&chaos))
                    .expect("the figures queue is open");
            }
            Command::Stop => break,
        }
    }
    server.close();
    // Handlers still running now are a failure the figures already show; the end of
    // `corio::run` cancels them rather than leaving the soak hanging.
    let _ = corio::wait_for(Duration::from_secs(5), || server.wait_closed());
}

/// One connection: maybe arm its cancellation, then echo.
fn handle(chaos: &Rc<Chaos>, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let port = writer.peer_addr()?.port();
    chaos.cancelled.lock().unwrap().remove(&port);
    let cancel_after = {
        let mut rng = chaos.rng.borrow_mut();
        rng.chance(CANCEL_PER_MILLE)
            .then(|| Duration::from_millis(rng.range(0, CANCEL_WITHIN_MS)))
    };
    if let (Some(after), Some(me)) = (cancel_after, corio::current_task()) {
        let chaos = chaos.clone();
        corio::runtime::call_later(after, move || {
            // The port is marked before the cancel can close anything the client could see.
            chaos.cancelled.lock().unwrap().insert(port);
            if me.cancel() {
                chaos.cancels.set(chaos.cancels.get() + 1);
            } else {
                chaos.cancelled.lock().unwrap().remove(&port);
            }
        });
    }
    echo(reader, writer)
}

/// The echo handler of asyncio's streams documentation.
fn echo(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let data = reader.read(64 * 1024)?;
        if data.is_empty() {
            return writer.close();
        }
        writer.write(&data);
        writer.drain()?;
    }
}
