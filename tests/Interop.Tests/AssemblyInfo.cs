// Several tests count this process's open fds (/proc/self/fd); a test opening sockets in
// parallel would make those counts meaningless.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
