//! Resources of streams: dropped subscriptions free their tasks and memory.
//! In a file of its own so that no other test shares the process's memory.

mod common;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicIsize, Ordering},
    time::Duration,
};

use common::TestServer;
use learning_service::pb::{self, subscribe_pattern_entropy_response::Event};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

/// Counts the bytes currently allocated in this process (server and client):
/// unlike RSS, it does not depend on what the allocator keeps for reuse.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_kib() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed) / 1024
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Opens `count` subscriptions, then drops them; returns the live task count
/// and heap while they were open.
async fn open_and_drop_subscriptions(server: &TestServer, count: usize) -> (usize, isize) {
    let mut streams = Vec::new();
    for _ in 0..count {
        let mut s = server
            .entropy()
            .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
            .await
            .unwrap()
            .into_inner();
        let first = timeout(WAIT, s.message()).await.unwrap().unwrap().unwrap();
        assert!(matches!(first.event, Some(Event::CaughtUp(_))));
        streams.push(s);
    }
    (
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        live_kib(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_dropped_subscriptions_free_their_tasks_and_memory() {
    // All 1,000 streams share the test's one connection.
    let server = TestServer::start_with(learning_service::server::ServerOptions {
        limits: learning_service::limits::Limits {
            max_concurrent_streams: 1200,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let metrics = tokio::runtime::Handle::current().metrics();
    // The first rounds size the allocator's and HTTP/2's pools (measured: the
    // growth halves each round); memory kept after them is reuse, not a leak.
    // One more round of 1,000 must not grow it by 1 KiB per subscription.
    for _ in 0..3 {
        open_and_drop_subscriptions(&server, 1000).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tasks_before = metrics.num_alive_tasks();
    let memory_before = live_kib();
    let resident_before = resident_kib();

    let (tasks_open, memory_open) = open_and_drop_subscriptions(&server, 1000).await;
    assert!(
        tasks_open >= tasks_before + 1000,
        "{tasks_before} -> {tasks_open}"
    );

    let deadline = tokio::time::Instant::now() + WAIT;
    while metrics.num_alive_tasks() > tasks_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tasks: {tasks_before} before, {} after",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let memory_after = live_kib();
    let open_kib = memory_open - memory_before;
    eprintln!(
        "live heap: {memory_before} KiB before, {memory_open} KiB with 1,000 open ({} B each), \
         {memory_after} KiB after; RSS {resident_before} -> {} KiB",
        open_kib * 1024 / 1000,
        resident_kib()
    );
    assert!(open_kib > 0, "the open subscriptions were not counted");
    assert!(
        memory_after - memory_before < open_kib / 20,
        "live heap {memory_before} KiB -> {memory_after} KiB after dropping 1,000 subscriptions"
    );
}
