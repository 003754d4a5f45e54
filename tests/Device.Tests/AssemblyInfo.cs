// Each test runs a device event loop thread and a guest; on a 2-core machine shared with other
// work, running them one at a time keeps timing-sensitive checks (no busy loop, the delayed
// re-signal after START) meaningful.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
