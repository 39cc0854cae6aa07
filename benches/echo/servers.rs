//! The servers under test, each in a thread of its own that reports its CPU time: corio's
//! streams (with and without busy polling), corio's protocols, tokio, and a hand-written
//! `polling` readiness loop.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

use crate::usage::Probe;

/// A running server: its address, how to stop it, and a probe of its thread's usage.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Box<dyn FnOnce() + Send>,
    pub(crate) probe: Probe,
    pub(crate) thread: thread::JoinHandle<()>,
}

/// A server thread, named after its server so that per-thread tools (`perf stat
/// --per-thread`, `top -H`) tell them apart.
fn server_thread(name: &str, f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(format!("srv-{name}"))
        .spawn(f)
        .expect("spawn the server thread")
}

impl Running {
    /// Stops the server and waits for its thread to end.
    pub(crate) fn finish(self) {
        (self.stop)();
        self.thread.join().expect("server thread");
    }
}

/// Starts one of the servers under test.
pub(crate) type StartServer = fn() -> Running;

// ----- corio -----

/// The corio echo handler (the README's streams echo), shared with the TLS echo benchmark.
pub(crate) use crate::echo_run::corio_echo;

/// The busy-poll window of the `corio-bp` server.
pub(crate) const BUSY_POLL: Duration = Duration::from_micros(50);

pub(crate) fn corio_server() -> Running {
    corio_server_with(Duration::ZERO, streams_echo_server)
}

pub(crate) fn streams_echo_server() -> corio::streams::Server {
    corio::streams::start_server("127.0.0.1:0", corio_echo).expect("corio server binds")
}

/// The protocol echo: every chunk written back from `data_received`, no task per connection.
#[derive(Default)]
pub(crate) struct EchoProtocol(Option<corio::protocols::Transport>);

impl corio::protocols::BaseProtocol for EchoProtocol {
    fn connection_made(&mut self, t: corio::protocols::Transport) {
        self.0 = Some(t);
    }
}

impl corio::protocols::Protocol for EchoProtocol {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            t.write(data);
        }
    }
}

pub(crate) fn protocol_echo_server() -> corio::streams::Server {
    corio::protocols::create_server(EchoProtocol::default, "127.0.0.1:0")
        .expect("corio protocol server binds")
}

/// corio's protocols (`protocols::create_server`): callbacks on the loop, no coroutine per
/// connection.
pub(crate) fn protocol_server() -> Running {
    corio_server_with(Duration::ZERO, protocol_echo_server)
}

/// corio with busy polling on (`EventLoopBuilder::busy_poll`): informational, it spends CPU
/// that the other servers do not, so the `ratio echo_*` lines compare the default `corio`.
pub(crate) fn corio_busy_poll_server() -> Running {
    corio_server_with(BUSY_POLL, streams_echo_server)
}

pub(crate) fn corio_server_with(
    busy_poll: Duration,
    start: fn() -> corio::streams::Server,
) -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let thread = server_thread("corio", move || {
        let builder = corio::runtime::EventLoopBuilder::new().busy_poll(busy_poll);
        builder.run(move || {
            let server = start();
            // The benchmark's thread says stop through a queue with a coroutine side.
            let stop = corio::queue::ThreadQueue::<()>::new(1);
            let addr = server.local_addr().unwrap();
            let serving = corio::spawn(move || server.serve_forever());
            addr_tx
                .send((addr, stop.clone(), Probe::of_current_thread()))
                .ok();
            let _ = stop.get();
            serving.cancel();
        })
    });
    let (addr, stop, probe) = addr_rx.recv().expect("corio server starts");
    Running {
        addr,
        stop: Box::new(move || {
            let _ = stop.blocking_put(());
        }),
        probe,
        thread,
    }
}

// ----- tokio -----

pub(crate) fn tokio_server() -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = server_thread("tokio", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx
                .send((listener.local_addr().unwrap(), Probe::of_current_thread()))
                .ok();
            let accept = async {
                loop {
                    let Ok((mut s, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = s.set_nodelay(true);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stop_rx => {}
            }
        });
    });
    let (addr, probe) = addr_rx.recv().expect("tokio server starts");
    Running {
        addr,
        stop: Box::new(move || {
            let _ = stop_tx.send(());
        }),
        probe,
        thread,
    }
}

// ----- a hand-written polling readiness loop -----

pub(crate) struct Conn {
    s: StdStream,
    /// Bytes read but not yet written back.
    pending: Vec<u8>,
}

pub(crate) fn polling_server() -> Running {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let poller = Arc::new(Poller::new().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let (probe_tx, probe_rx) = mpsc::channel();
    let (p, st) = (poller.clone(), stop.clone());
    let thread = server_thread("polling", move || {
        probe_tx.send(Probe::of_current_thread()).ok();
        // SAFETY: the listener outlives its registration (deleted before it drops).
        unsafe {
            p.add_with_mode(&listener, Event::readable(0), PollMode::Level)
                .unwrap()
        };
        let mut conns: slab::Slab<Conn> = slab::Slab::new();
        let mut events = Events::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !st.load(Ordering::Relaxed) {
            events.clear();
            p.wait(&mut events, None).unwrap();
            for ev in events.iter() {
                if ev.key == 0 {
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nonblocking(true).unwrap();
                        s.set_nodelay(true).unwrap();
                        let key = conns.vacant_key() + 1;
                        // SAFETY: the stream is deleted from the poller before it is dropped.
                        unsafe {
                            p.add_with_mode(&s, Event::readable(key), PollMode::Level)
                                .unwrap()
                        };
                        conns.insert(Conn {
                            s,
                            pending: Vec::new(),
                        });
                    }
                    continue;
                }
                let key = ev.key - 1;
                let Some(c) = conns.get_mut(key) else {
                    continue;
                };
                let mut close = false;
                if ev.readable && c.pending.is_empty() {
                    loop {
                        match c.s.read(&mut buf) {
                            Ok(0) => {
                                close = true;
                                break;
                            }
                            Ok(n) => match c.s.write(&buf[..n]) {
                                // Level-triggered: after a short read the socket is empty
                                // for now, and later bytes are reported again.
                                Ok(w) if w == n && n < buf.len() => break,
                                Ok(w) if w == n => {}
                                Ok(w) => {
                                    c.pending.extend_from_slice(&buf[w..n]);
                                    break;
                                }
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    c.pending.extend_from_slice(&buf[..n]);
                                    break;
                                }
                                Err(_) => {
                                    close = true;
                                    break;
                                }
                            },
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                close = true;
                                break;
                            }
                        }
                    }
                }
                if ev.writable && !c.pending.is_empty() {
                    match c.s.write(&c.pending) {
                        Ok(w) => {
                            c.pending.drain(..w);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => close = true,
                    }
                }
                if close {
                    let c = conns.remove(key);
                    p.delete(&c.s).ok();
                } else {
                    let want = if c.pending.is_empty() {
                        Event::readable(ev.key)
                    } else {
                        Event::writable(ev.key)
                    };
                    if want.readable != ev.readable
                        || want.writable != ev.writable
                        || !c.pending.is_empty()
                    {
                        p.modify_with_mode(&c.s, want, PollMode::Level).ok();
                    }
                }
            }
        }
        for c in conns.drain() {
            p.delete(&c.s).ok();
        }
        p.delete(&listener).ok();
    });
    Running {
        addr,
        stop: Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            poller.notify().ok();
        }),
        probe: probe_rx.recv().expect("polling server starts"),
        thread,
    }
}
