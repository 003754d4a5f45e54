// Several tests count /proc/self/fd before and after; a test running beside them would open
// and close fds of its own and make those counts meaningless.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
