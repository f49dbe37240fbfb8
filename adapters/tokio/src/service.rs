//! The tower `Service` the layer wraps around the application.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::future::ResponseFuture;
use crate::session::SessionHandle;
use crate::state::{RequestSession, Shared};

/// Reads the session cookie, hands the request a [`SessionHandle`], and
/// writes `Set-Cookie` on the way out. Made by [`SessionLayer`](crate::SessionLayer).
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        SessionService { inner, shared }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for SessionService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let session = Arc::new(RequestSession::from_headers(
            self.shared.clone(),
            request.headers(),
        ));
        request
            .extensions_mut()
            .insert(SessionHandle(session.clone()));
        ResponseFuture::new(self.inner.call(request), session)
    }
}
