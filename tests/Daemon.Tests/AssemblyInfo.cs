// Every test starts its own daemon process and several guests; one at a time keeps the 2-core
// machine from starving the daemon's event loops (and the test's timeouts meaningful).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
