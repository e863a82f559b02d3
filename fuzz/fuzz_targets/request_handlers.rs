//! Request frames through the real dispatcher and handlers of an in-process
//! broker (see gregor::fuzzing::handlers for the input format and checks).
#![no_main]
use std::sync::Mutex;

use gregor::fuzzing::HandlerFixture;
use libfuzzer_sys::fuzz_target;

/// The broker's allocator, as in the broker (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

/// One runtime and one broker for the process: a broker takes a Raft
/// election to open, so it serves many inputs and is replaced now and then.
static STATE: Mutex<Option<(tokio::runtime::Runtime, Option<HandlerFixture>)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let (rt, fixture) = state.get_or_insert_with(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        (rt, None)
    });
    rt.block_on(async {
        if fixture.as_ref().is_some_and(HandlerFixture::worn_out) {
            if let Some(old) = fixture.take() {
                old.close().await;
            }
        }
        if fixture.is_none() {
            *fixture = Some(HandlerFixture::open().await);
        }
        if let Some(f) = fixture.as_mut() {
            f.run(data).await;
        }
    });
});
