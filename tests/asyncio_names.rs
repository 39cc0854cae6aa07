//! docs/ASYNCIO.md names corio's counterpart of each asyncio name. Every `corio::` path on that
//! page (except on rows marked *planned*) must appear in [`every_name_on_the_page`] below,
//! which the compiler checks: a name that is renamed or removed breaks this test's build.

use std::io;
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("../docs/ASYNCIO.md");
const THIS: &str = include_str!("asyncio_names.rs");

/// Never run: it only has to compile. Each name is written out as the page writes it.
#[allow(
    dead_code,
    unreachable_code,
    unused_must_use,
    clippy::diverging_sub_expression
)]
fn every_name_on_the_page() -> io::Result<()> {
    let d = Duration::from_millis(1);
    // Runners and the event loop.
    corio::run(|| ());
    let lp: corio::EventLoop = corio::EventLoop::new()?;
    corio::EventLoop::run_until_complete(&lp, || ());
    corio::EventLoop::run_forever(&lp);
    corio::EventLoop::stop(&lp);
    corio::EventLoop::is_running(&lp);
    corio::EventLoop::is_closed(&lp);
    corio::EventLoop::close(&lp);
    let _: corio::Handle = corio::EventLoop::call_soon(&lp, || ());
    let _: corio::TimerHandle = corio::EventLoop::call_later(&lp, d, || ());
    corio::EventLoop::call_at(&lp, Instant::now(), || ());
    corio::EventLoop::time(&lp);
    let handle: corio::LoopHandle = corio::EventLoop::handle(&lp);
    corio::LoopHandle::call_soon_threadsafe(&handle, || ());
    let remote: corio::runtime::RemoteTask<()> = corio::LoopHandle::spawn(&handle, || ()).unwrap();
    drop(remote);
    let _: corio::EventLoopBuilder =
        corio::EventLoopBuilder::debug(corio::EventLoop::builder(), true);
    let _: corio::EventLoop = corio::get_running_loop();
    corio::runtime::call_soon(|| ());
    corio::runtime::call_later(d, || ());
    corio::runtime::call_at(corio::runtime::instant_at(corio::runtime::time()), || ());
    corio::runtime::stop();
    let _ = corio::runtime::loop_handle();
    let sock = std::net::TcpListener::bind("127.0.0.1:0")?;
    corio::runtime::add_reader(&sock, || ())?;
    corio::runtime::remove_reader(&sock);
    corio::runtime::add_writer(&sock, || ())?;
    corio::runtime::remove_writer(&sock);
    corio::set_exception_handler(None);
    let _ = corio::get_exception_handler();
    corio::call_exception_handler(corio::ExceptionContext::new("x"));
    corio::default_exception_handler(&corio::ExceptionContext::new("x"));
    let ex = corio::executor::Executor::new();
    corio::executor::Executor::run(&ex, || ());
    corio::executor::Executor::shutdown(&ex);
    corio::executor::set_default_executor(ex);
    corio::run_in_executor(|| ());
    corio::to_thread(|| ());
    // Signals.
    corio::EventLoop::add_signal_handler(&lp, corio::signal::SIGINT, || ())?;
    corio::EventLoop::remove_signal_handler(&lp, corio::signal::SIGINT);
    corio::runtime::add_signal_handler(corio::signal::SIGINT, || ())?;
    corio::runtime::remove_signal_handler(corio::signal::SIGINT);
    corio::signal::wait(corio::signal::SIGINT)?;
    // Subprocesses.
    let mut child: corio::subprocess::Process =
        corio::subprocess::Command::spawn(&mut corio::subprocess::Command::new("true"))?;
    corio::subprocess::Process::wait(&child)?;
    corio::subprocess::Process::communicate(&mut child, None)?;
    corio::subprocess::Process::pid(&child);
    corio::subprocess::Process::returncode(&child);
    corio::subprocess::Process::send_signal(&child, corio::signal::SIGINT)?;
    corio::subprocess::Process::terminate(&child)?;
    corio::subprocess::Process::kill(&child)?;
    corio::subprocess::create_subprocess_exec("true", ["x"])?;
    corio::subprocess::create_subprocess_shell("true")?;

    // Futures.
    let fut: corio::Future<u8> = corio::Future::new();
    corio::Future::set_result(&fut, 1);
    corio::Future::set_exception(&fut, io::Error::other("x"));
    corio::Future::result(&fut);
    corio::Future::exception(&fut);
    corio::Future::done(&fut);
    corio::Future::cancelled(&fut);
    corio::Future::cancel(&fut);
    let id = corio::Future::add_done_callback(&fut, |_| ());
    corio::Future::remove_done_callback(&fut, id);
    corio::Future::wait(&fut);
    corio::compat::block_on(async { 1 });

    // Tasks.
    let task: corio::Task<u8> = corio::spawn(|| 1);
    let _: corio::Builder = corio::Builder::name(corio::Builder::new(), "n");
    corio::Task::cancel(&task);
    corio::Task::done(&task);
    corio::Task::cancelled(&task);
    corio::Task::name(&task);
    corio::shield(&task);
    let _: Result<u8, corio::JoinError> = corio::Task::join(task);
    let _ = corio::JoinError::Cancelled;
    let _ = |p| corio::JoinError::Panicked(p);
    let current: corio::CurrentTask = corio::current_task().unwrap();
    corio::CurrentTask::cancelling(&current);
    corio::CurrentTask::uncancel(&current);
    let _: Result<(), corio::Cancelled> = corio::catch_cancel(|| ());
    corio::tasks();
    corio::sleep(d);
    corio::sleep_until(Instant::now());
    corio::yield_now();
    corio::gather(vec![corio::spawn(|| 1)]);
    corio::gather!(|| 1, || 2);
    corio::wait(
        vec![corio::spawn(|| 1)],
        corio::ReturnWhen::FirstCompleted,
        None,
    );
    let _: Result<u8, corio::Timeout> = corio::wait_for(d, || 1);
    corio::as_completed(vec![corio::spawn(|| 1)]);
    corio::timeout(d, |scope: &corio::TimeoutScope| scope.when());
    corio::timeout_at(Instant::now(), |_| ());
    let _: Result<(), corio::TaskGroupError> = corio::task_group(|tg: &corio::TaskGroup| {
        corio::TaskGroup::spawn(tg, || ());
    });
    let _: Option<&corio::TaskFailure> = None;

    // Synchronisation.
    let lock = corio::Lock::new();
    let guard: corio::LockGuard = lock.acquire();
    drop(guard);
    corio::Lock::locked(&lock);
    corio::Lock::try_acquire(&lock);
    corio::Lock::release(&lock);
    let event = corio::Event::new();
    corio::Event::set(&event);
    corio::Event::clear(&event);
    corio::Event::is_set(&event);
    corio::Event::wait(&event);
    let cond = corio::Condition::new();
    corio::Condition::wait(&cond);
    corio::Condition::wait_for(&cond, || true);
    corio::Condition::notify(&cond, 1);
    corio::Condition::notify_all(&cond);
    let sem = corio::Semaphore::new(1);
    let _: corio::SemaphorePermit = sem.acquire();
    corio::Semaphore::release(&sem);
    corio::Semaphore::locked(&sem);
    let _: Result<(), corio::TooManyReleases> = corio::BoundedSemaphore::new(1).release();
    let barrier = corio::Barrier::new(2);
    let _: Result<usize, corio::BrokenBarrier> = corio::Barrier::wait(&barrier);
    corio::Barrier::reset(&barrier);
    corio::Barrier::abort(&barrier);
    corio::Barrier::parties(&barrier);
    corio::Barrier::n_waiting(&barrier);
    corio::Barrier::is_broken(&barrier);

    // Queues.
    let q: corio::Queue<u8> = corio::Queue::new(0);
    corio::Queue::put(&q, 1);
    corio::Queue::get(&q);
    if let Err(corio::error::PutNowaitError::Full(full)) = corio::Queue::put_nowait(&q, 1) {
        let _: corio::error::QueueFull<u8> = full;
    }
    let _ = corio::Queue::get_nowait(&q);
    let _: Option<corio::error::QueueEmpty> = None;
    let _: Option<corio::error::QueueShutDown> = None;
    corio::Queue::task_done(&q);
    corio::Queue::join(&q);
    corio::Queue::qsize(&q);
    corio::Queue::empty(&q);
    corio::Queue::full(&q);
    corio::Queue::maxsize(&q);
    corio::Queue::shutdown(&q, false);
    let _: corio::LifoQueue<u8> = corio::LifoQueue::new(0);
    let _: corio::PriorityQueue<u8> = corio::PriorityQueue::new(0);
    let _: corio::ThreadQueue<u8> = corio::ThreadQueue::new(0);

    // Streams and sockets.
    let (mut reader, writer): (corio::StreamReader, corio::StreamWriter) =
        corio::open_connection("127.0.0.1:1")?;
    corio::StreamReader::read(&mut reader, 1)?;
    let _: Result<Vec<u8>, corio::IncompleteRead> = Err(todo_value());
    let _: Option<corio::LimitOverrun> = None;
    corio::StreamReader::readexactly(&mut reader, 1);
    corio::StreamReader::readline(&mut reader);
    corio::StreamReader::readuntil(&mut reader, b"\n");
    corio::StreamReader::at_eof(&mut reader);
    corio::StreamWriter::write(&writer, b"x");
    corio::StreamWriter::writelines(&writer, [b"x"]);
    corio::StreamWriter::drain(&writer)?;
    corio::StreamWriter::write_eof(&writer)?;
    corio::StreamWriter::can_write_eof(&writer);
    corio::StreamWriter::is_closing(&writer);
    corio::StreamWriter::peer_addr(&writer)?;
    corio::StreamWriter::local_addr(&writer)?;
    corio::StreamWriter::set_write_buffer_limits(&writer, 2, 1);
    corio::StreamWriter::abort(&writer);
    corio::StreamWriter::close(&writer)?;
    corio::StreamWriter::wait_closed(&writer)?;
    corio::open_unix_connection("/x")?;
    let server: corio::Server = corio::start_server("127.0.0.1:0", |_r, _w| ())?;
    corio::start_unix_server("/x", |_r, _w| ())?;
    corio::Server::local_addr(&server)?;
    corio::Server::is_serving(&server);
    corio::Server::close(&server);
    corio::Server::wait_closed(&server);
    corio::Server::serve_forever(&server)?;
    corio::Server::serve_until_signal(&server, d)?;
    let stream: corio::net::TcpStream = corio::net::TcpStream::connect("127.0.0.1:1")?;
    corio::net::TcpStream::read(&stream, &mut [0u8; 1])?;
    corio::net::TcpStream::write_all(&stream, b"x")?;
    let _ = corio::streams::split(stream);
    corio::net::TcpListener::accept(&corio::net::TcpListener::bind("127.0.0.1:0")?)?;
    let udp = corio::net::UdpSocket::bind("127.0.0.1:0")?;
    corio::net::UdpSocket::recv_from(&udp, &mut [0u8; 1])?;
    corio::net::UdpSocket::send_to(&udp, b"x", "127.0.0.1:1")?;
    corio::net::lookup_host("localhost", 80)?;

    // Transports and protocols.
    struct P;
    impl corio::protocols::BaseProtocol for P {}
    impl corio::protocols::Protocol for P {
        fn data_received(&mut self, _: &[u8]) {}
    }
    struct B([u8; 1]);
    impl corio::protocols::BaseProtocol for B {}
    impl corio::protocols::BufferedProtocol for B {
        fn get_buffer(&mut self, _: usize) -> &mut [u8] {
            &mut self.0
        }
        fn buffer_updated(&mut self, _: usize) {}
    }
    struct D;
    impl corio::protocols::DatagramProtocol for D {
        fn datagram_received(&mut self, _: &[u8], _: std::net::SocketAddr) {}
    }
    let _: corio::Server = corio::protocols::create_server(|| P, "127.0.0.1:0")?;
    corio::protocols::create_unix_server(|| corio::protocols::Buffered(B([0])), "/x")?;
    let _: corio::protocols::Transport = corio::protocols::create_connection(|| P, "127.0.0.1:1")?;
    corio::protocols::create_unix_connection(|| P, "/x")?;
    corio::protocols::connect_accepted_socket(
        || P,
        corio::net::TcpStream::connect("127.0.0.1:1")?,
    )?;
    let _: corio::protocols::DatagramTransport =
        corio::protocols::create_datagram_endpoint(|| D, Some("127.0.0.1:0"), None::<&str>)?;
    let _: (
        corio::protocols::StreamsBridge,
        corio::StreamReader,
        corio::StreamWriter,
    ) = corio::protocols::streams_bridge()?;

    // Generators (the module `corio::generator`).
    let mut g: corio::Generator<u8, (), u8> = corio::Generator::new(|co| {
        co.yield_(1);
        let mut inner: corio::Generator<u8, (), u8> = corio::Generator::new(|_| ());
        corio::generator::Yielder::yield_from(co, &mut inner);
    });
    corio::Generator::start(&mut g);
    corio::Generator::send(&mut g, 1);
    corio::Generator::resume(&mut g, 1);
    let _ = corio::Generator::throw(&mut g, 7u8);
    corio::Generator::close(&mut g);
    let _ = corio::generator::catch::<corio::generator::GeneratorExit, _>(|| ());

    // Errors not used above.
    let _: Option<corio::InvalidState> = None;
    Ok(())
}

/// A value of any type, for the type checks above (never called).
fn todo_value<T>() -> T {
    unreachable!("compile-only")
}

/// Every `corio::` path on the page, outside the rows marked *planned*.
fn paths_on_the_page() -> Vec<String> {
    let mut paths = Vec::new();
    for line in PAGE.lines().filter(|l| !l.contains("*planned*")) {
        let mut rest = line;
        while let Some(at) = rest.find("corio::") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '!'))
                .unwrap_or(tail.len());
            paths.push(tail[..end].trim_end_matches(':').to_string());
            rest = &tail[end..];
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// `true` if `path` is written in this file followed by something that ends a path.
fn written_here(path: &str) -> bool {
    THIS.match_indices(path).any(|(i, _)| {
        THIS[i + path.len()..]
            .chars()
            .next()
            .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

#[test]
fn every_corio_name_in_asyncio_md_exists() {
    let paths = paths_on_the_page();
    assert!(paths.len() > 150, "only {} corio paths found", paths.len());
    let missing: Vec<&String> = paths.iter().filter(|p| !written_here(p)).collect();
    assert!(
        missing.is_empty(),
        "named in docs/ASYNCIO.md but not checked in tests/asyncio_names.rs: {missing:?}"
    );
}

/// `asyncio.__all__` in Python 3.13.
const ASYNCIO_ALL: &[&str] = &[
    "ALL_COMPLETED",
    "AbstractChildWatcher",
    "AbstractEventLoop",
    "AbstractEventLoopPolicy",
    "AbstractServer",
    "Barrier",
    "BaseEventLoop",
    "BaseProtocol",
    "BaseTransport",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "BufferedProtocol",
    "CancelledError",
    "Condition",
    "DatagramProtocol",
    "DatagramTransport",
    "DefaultEventLoopPolicy",
    "Event",
    "EventLoop",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "FastChildWatcher",
    "Future",
    "Handle",
    "IncompleteReadError",
    "InvalidStateError",
    "LifoQueue",
    "LimitOverrunError",
    "Lock",
    "MultiLoopChildWatcher",
    "PidfdChildWatcher",
    "PriorityQueue",
    "Protocol",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "QueueShutDown",
    "ReadTransport",
    "Runner",
    "SafeChildWatcher",
    "SelectorEventLoop",
    "Semaphore",
    "SendfileNotAvailableError",
    "Server",
    "StreamReader",
    "StreamReaderProtocol",
    "StreamWriter",
    "SubprocessProtocol",
    "SubprocessTransport",
    "Task",
    "TaskGroup",
    "ThreadedChildWatcher",
    "Timeout",
    "TimeoutError",
    "TimerHandle",
    "Transport",
    "WriteTransport",
    "_enter_task",
    "_get_running_loop",
    "_leave_task",
    "_register_task",
    "_set_running_loop",
    "_unregister_task",
    "all_tasks",
    "as_completed",
    "create_eager_task_factory",
    "create_subprocess_exec",
    "create_subprocess_shell",
    "create_task",
    "current_task",
    "eager_task_factory",
    "ensure_future",
    "gather",
    "get_child_watcher",
    "get_event_loop",
    "get_event_loop_policy",
    "get_running_loop",
    "iscoroutine",
    "iscoroutinefunction",
    "isfuture",
    "new_event_loop",
    "open_connection",
    "open_unix_connection",
    "run",
    "run_coroutine_threadsafe",
    "set_child_watcher",
    "set_event_loop",
    "set_event_loop_policy",
    "shield",
    "sleep",
    "start_server",
    "start_unix_server",
    "timeout",
    "timeout_at",
    "to_thread",
    "wait",
    "wait_for",
    "wrap_future",
];

/// `true` if `name` occurs in `text` as a whole word (not inside a longer identifier).
fn has_word(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(ident)
            && !text[i + name.len()..].chars().next().is_some_and(ident)
    })
}

#[test]
fn asyncio_md_has_a_row_for_every_public_asyncio_name() {
    // The first cell of every table row: the asyncio side.
    let firsts: Vec<&str> = PAGE
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
        .filter_map(|l| l.split(" | ").next())
        .collect();
    let missing: Vec<&&str> = ASYNCIO_ALL
        .iter()
        .filter(|name| !firsts.iter().any(|cell| has_word(cell, name)))
        .collect();
    assert!(
        missing.is_empty(),
        "no row in docs/ASYNCIO.md for {missing:?}"
    );
}

#[test]
fn asyncio_md_covers_every_asyncio_module() {
    for section in [
        "## Runners",
        "## Event loop",
        "## Futures",
        "## Tasks",
        "## Timeouts",
        "## Task groups",
        "## Synchronisation",
        "## Queues",
        "## Streams",
        "## Subprocesses",
        "## Threads",
        "## Exceptions",
        "## Transports and protocols",
    ] {
        assert!(
            PAGE.contains(section),
            "docs/ASYNCIO.md has no {section:?} section"
        );
    }
}
