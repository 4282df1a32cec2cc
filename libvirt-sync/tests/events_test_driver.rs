//! `DomainEventSource` against libvirt's test driver, in this process: `test:///default` is one
//! state shared by every connection of the process, so the source sees what a second connection
//! does. Each test works on a domain of its own (the tests run in parallel on the one state) and
//! ignores the events of the others. No daemon is needed.
//!
//! The process keeps one source registered throughout (`keep_one_registration`), to steer clear
//! of a race in libvirt 9.0's event queue that only a process-wide, in-process state (the test
//! driver's) can hit: when the last callback of `test:///default` is deregistered while another
//! thread queues an event, the event can be left in the queue after the queue's timer is removed.
//! A later registration then adds a timer that is armed only when the queue goes from empty to
//! one event, which never happens again: no event is delivered in the process from then on.
//! (`virObjectEventStateQueueRemote` reads the timer without the state's lock.) The daemon's
//! remote connections each have their own queue, replaced with the connection on a reopen.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use libvirt_sync::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
use virt::connect::Connect;
use virt::domain::Domain;

const URI: &str = "test:///default";
/// How long an event may take to arrive.
const EVENT_BOUND: Duration = Duration::from_secs(5);

/// The log records of `libvirt_sync::events` (every test of this process logs there).
static EVENT_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct EventLog;

impl log::Log for EventLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("libvirt_sync::events")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut lines = EVENT_LOG.lock().unwrap_or_else(|error| error.into_inner());
            lines.push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Collects the event source's log lines from now on (debug ones included).
fn capture_event_log() {
    static LOGGER: EventLog = EventLog;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// The event source's log lines so far that contain `needle`.
fn event_log_lines(needle: &str) -> Vec<String> {
    EVENT_LOG
        .lock()
        .unwrap_or_else(|error| error.into_inner())
        .iter()
        .filter(|line| line.contains(needle))
        .cloned()
        .collect()
}

/// Starts the event loop, and a source that is never dropped (see the module's doc).
fn keep_one_registration() {
    static ANCHOR: OnceLock<DomainEventSource> = OnceLock::new();
    init_event_loop().unwrap();
    ANCHOR.get_or_init(|| DomainEventSource::start(Some(URI), |_| {}).unwrap());
}

/// A source on `test:///default` whose events arrive on the returned channel.
fn start_source() -> (DomainEventSource, Receiver<DomainEvent>) {
    keep_one_registration();
    let (sender, events) = mpsc::channel();
    let source = DomainEventSource::start(Some(URI), move |event| {
        let _ = sender.send(event);
    })
    .unwrap();
    assert!(source.is_connected());
    (source, events)
}

/// A persistent test-driver domain named `name`, defined (shut off) on a connection of its own,
/// and undefined (destroyed first if it runs) when dropped.
struct TestDomain {
    name: String,
    domain: Domain,
    _connection: Connect,
}

impl TestDomain {
    fn define(name: &str) -> TestDomain {
        keep_one_registration();
        let connection = Connect::open(Some(URI)).unwrap();
        let xml = format!(
            "<domain type='test'><name>{name}</name><memory>8192</memory>\
             <os><type>hvm</type></os></domain>"
        );
        let domain = connection.define_domain_xml(&xml).unwrap();
        TestDomain {
            name: name.to_string(),
            domain,
            _connection: connection,
        }
    }

    fn lifecycle(&self, change: LifecycleChange) -> DomainEvent {
        DomainEvent::Lifecycle {
            domain: self.name.clone(),
            change,
        }
    }

    /// The next event of this domain, skipping those of other domains; panics after
    /// `EVENT_BOUND` without one.
    fn next_event(&self, events: &Receiver<DomainEvent>) -> DomainEvent {
        let deadline = Instant::now() + EVENT_BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Ok(event) if event.domain() == Some(self.name.as_str()) => return event,
                Ok(_) => {}
                Err(error) => panic!(
                    "no event of {} within {EVENT_BOUND:?}: {error:?}",
                    self.name
                ),
            }
        }
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        if self.domain.is_active().unwrap_or(false) {
            let _ = self.domain.destroy();
        }
        let _ = self.domain.undefine();
    }
}

#[test]
fn destroying_and_starting_a_domain_reports_stopped_then_started() {
    let (_source, events) = start_source();
    let vm = TestDomain::define("events-cycle");

    vm.domain.create().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Started)
    );
    vm.domain.destroy().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Stopped)
    );
    vm.domain.create().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Started)
    );
}

#[test]
fn pausing_and_resuming_a_domain_reports_suspended_then_resumed() {
    let (_source, events) = start_source();
    let vm = TestDomain::define("events-pause");
    vm.domain.create().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Started)
    );

    vm.domain.suspend().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Suspended)
    );
    vm.domain.resume().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Resumed)
    );
}

#[test]
fn after_the_source_is_dropped_its_handler_is_gone_and_gets_no_event() {
    let (source, events) = start_source();
    let vm = TestDomain::define("events-drop");
    vm.domain.create().unwrap();
    assert_eq!(
        vm.next_event(&events),
        vm.lifecycle(LifecycleChange::Started)
    );

    drop(source);
    vm.domain.destroy().unwrap();
    vm.domain.create().unwrap();
    // Whatever other tests' domains sent before the drop may still be queued; nothing of this
    // domain is, and the channel is closed: the handler, which held the only sender, was dropped
    // by the drop, so no event can come after it.
    loop {
        match events.try_recv() {
            Ok(event) => assert_ne!(event.domain(), Some("events-drop"), "{event:?}"),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => panic!("the handler outlived the source"),
        }
    }
}

#[test]
fn sources_dropped_while_events_are_dispatched_deregister_cleanly() {
    keep_one_registration();
    let vm = TestDomain::define("events-churn");
    vm.domain.create().unwrap();
    let (stop, stopped) = mpsc::channel::<()>();
    let domain = vm.name.clone();
    // Another thread pauses and resumes the domain without pause, so that sources are dropped
    // while libvirt is dispatching events to them.
    let churn = thread::spawn(move || {
        let connection = Connect::open(Some(URI)).unwrap();
        let handle = connection.lookup_domain_by_name(&domain).unwrap();
        let mut cycles = 0u32;
        while stopped.try_recv() == Err(TryRecvError::Empty) {
            handle.suspend().unwrap();
            handle.resume().unwrap();
            cycles += 1;
        }
        cycles
    });

    for round in 0..20 {
        let (source, events) = start_source();
        // Wait for one event of the churning domain, so the drop happens mid-stream.
        let deadline = Instant::now() + EVENT_BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Ok(event) if event.domain() == Some("events-churn") => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("round {round}: no event"),
                Err(RecvTimeoutError::Disconnected) => panic!("round {round}: handler dropped"),
            }
        }
        drop(source);
        // What was sent before the drop is queued; then the channel ends, as the handler (the
        // only sender) went with the source.
        loop {
            match events.try_recv() {
                Ok(_) => {}
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    panic!("round {round}: the handler outlived the source")
                }
            }
        }
    }
    stop.send(()).unwrap();
    assert!(churn.join().unwrap() > 0);
}

#[test]
fn a_source_that_cannot_connect_is_not_connected_and_its_drop_wakes_it_from_its_backoff() {
    capture_event_log();
    init_event_loop().unwrap();
    let missing = format!(
        "test://{}/tests/data/no-such-node.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (sender, events) = mpsc::channel();
    let source = DomainEventSource::start(Some(&missing), move |event| {
        let _ = sender.send(event);
    })
    .unwrap();
    assert!(!source.is_connected());

    // Its retry delay doubles from 100 ms; wait until it is waiting longer than the drop waits
    // for it (1 s), so that only being woken by the drop can end it in time.
    let long_wait = "no-such-node.xml'; trying again in 1.6s";
    let deadline = Instant::now() + Duration::from_secs(20);
    while event_log_lines(long_wait).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the source never waited 1.6 s: {:?}",
            event_log_lines("no-such-node")
        );
        thread::sleep(Duration::from_millis(20));
    }
    let left_before = event_log_lines("left to end by itself").len();
    drop(source);
    // Had the drop not woken the supervisor, the drop would have given up on it after its 1 s
    // and said it was left to end by itself.
    assert_eq!(
        event_log_lines("left to end by itself").len(),
        left_before,
        "the drop did not wake the supervisor from its backoff"
    );
    assert_eq!(events.try_recv(), Err(TryRecvError::Disconnected));
}
