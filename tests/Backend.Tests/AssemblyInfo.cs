// Several tests count the fds of this process or of the echo host before and after; a test
// running beside them would open and close fds of its own and make those counts meaningless.
// Running one at a time also keeps the 2-core machine from starving the back-end threads.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
