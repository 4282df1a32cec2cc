//! [`BoundedHypervisor`]: every call of a hypervisor on a worker thread, waited for at most a bound,
//! so that a hypervisor that stops answering can never block its caller for ever.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Cause, Error, ErrorKind, HostdevSpec, Hypervisor, HypervisorView};

/// The bound the daemon uses: as long as libvirt's keepalive takes to declare a connection dead.
pub const DEFAULT_CALL_BOUND: Duration = Duration::from_secs(15);

/// A call for the worker.
enum Request {
    Observe(Vec<String>),
    Attach(String, HostdevSpec),
    Detach(String, HostdevSpec),
}

/// The worker's answer.
enum Response {
    Observe(Result<HypervisorView, Error>),
    Change(Result<(), Error>),
}

/// A [`Hypervisor`] whose calls run on a worker thread and are waited for at most a bound.
///
/// A call that takes longer fails with [`Error::Stalled`] (an attach or detach: with a transient
/// [`Error::Attach`]/[`Error::Detach`] whose cause says so) and is abandoned, not cancelled: the
/// worker goes on waiting for it. Until it returns, every call fails at once with
/// [`Error::Stalled`], so that nothing piles up behind a hung hypervisor; the first call after it
/// returned goes through again (its late answer is dropped: the caller looks at the state again
/// anyway). Dropping the `BoundedHypervisor` never waits: the worker ends, and drops the inner
/// hypervisor, when its current call returns.
///
/// ```
/// use std::time::Duration;
/// use libvirt_sync::{BoundedHypervisor, Hypervisor, MockHypervisor};
///
/// let mock = MockHypervisor::new().with_domain("vm", true);
/// let mut bounded = BoundedHypervisor::spawn(mock, Duration::from_secs(15)).unwrap();
/// let view = bounded.observe(&["vm".to_string()]).unwrap();
/// assert!(view.domains[0].state.is_running());
/// ```
pub struct BoundedHypervisor {
    requests: Sender<Request>,
    responses: Receiver<Response>,
    bound: Duration,
    /// When the call that has not returned yet was made.
    outstanding_since: Option<Instant>,
}

impl std::fmt::Debug for BoundedHypervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedHypervisor")
            .field("bound", &self.bound)
            .field("outstanding_since", &self.outstanding_since)
            .finish_non_exhaustive()
    }
}

impl BoundedHypervisor {
    /// Moves `inner` to a new worker thread (`hypervisor`) whose calls are waited for at most
    /// `bound`.
    pub fn spawn<H: Hypervisor + 'static>(inner: H, bound: Duration) -> Result<Self, Error> {
        let (requests, orders) = mpsc::channel::<Request>();
        let (answers, responses) = mpsc::channel();
        thread::Builder::new()
            .name("hypervisor".to_owned())
            .spawn(move || serve(inner, &orders, &answers))
            .map_err(|error| Error::StartThread {
                name: "hypervisor".to_owned(),
                cause: Cause::refused(error.to_string()),
            })?;
        Ok(BoundedHypervisor {
            requests,
            responses,
            bound,
            outstanding_since: None,
        })
    }

    /// Runs `request` on the worker and waits for its answer, at most the bound.
    fn call(&mut self, request: Request) -> Result<Response, Error> {
        if let Some(since) = self.outstanding_since {
            match self.responses.try_recv() {
                // The stalled call returned at last; its answer is stale.
                Ok(_) => self.outstanding_since = None,
                Err(TryRecvError::Empty) => {
                    return Err(Error::Stalled {
                        waited: since.elapsed(),
                    })
                }
                Err(TryRecvError::Disconnected) => return Err(worker_gone()),
            }
        }
        let started = Instant::now();
        self.requests.send(request).map_err(|_| worker_gone())?;
        match self.responses.recv_timeout(self.bound) {
            Ok(response) => Ok(response),
            Err(RecvTimeoutError::Timeout) => {
                self.outstanding_since = Some(started);
                Err(Error::Stalled {
                    waited: started.elapsed(),
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(worker_gone()),
        }
    }

    fn change(
        &mut self,
        request: Request,
        failed: impl FnOnce(Cause) -> Error,
    ) -> Result<(), Error> {
        match self.call(request) {
            Ok(Response::Change(result)) => result,
            Ok(Response::Observe(_)) => {
                Err(failed(Cause::refused("the worker answered another call")))
            }
            Err(error) => Err(failed(Cause::refused(crate::error_chain(&error)))),
        }
    }
}

/// The worker's loop: one call after the other, until the `BoundedHypervisor` is dropped.
fn serve<H: Hypervisor>(mut inner: H, orders: &Receiver<Request>, answers: &Sender<Response>) {
    for request in orders {
        let response = match request {
            Request::Observe(names) => Response::Observe(inner.observe(&names)),
            Request::Attach(domain, spec) => Response::Change(inner.attach(&domain, &spec)),
            Request::Detach(domain, spec) => Response::Change(inner.detach(&domain, &spec)),
        };
        if answers.send(response).is_err() {
            break;
        }
    }
}

fn worker_gone() -> Error {
    Error::StartThread {
        name: "hypervisor".to_owned(),
        cause: Cause::refused("the worker thread ended"),
    }
}

impl Hypervisor for BoundedHypervisor {
    fn observe(&mut self, names: &[String]) -> Result<HypervisorView, Error> {
        match self.call(Request::Observe(names.to_vec()))? {
            Response::Observe(result) => result,
            Response::Change(_) => Err(Error::ListDomains {
                cause: Cause::refused("the worker answered another call"),
            }),
        }
    }

    fn attach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.change(Request::Attach(domain.to_owned(), *spec), |cause| {
            Error::Attach {
                domain: domain.to_owned(),
                device: *spec,
                kind: ErrorKind::Transient,
                cause,
            }
        })
    }

    fn detach(&mut self, domain: &str, spec: &HostdevSpec) -> Result<(), Error> {
        self.change(Request::Detach(domain.to_owned(), *spec), |cause| {
            Error::Detach {
                domain: domain.to_owned(),
                device: *spec,
                kind: ErrorKind::Transient,
                cause,
            }
        })
    }
}
