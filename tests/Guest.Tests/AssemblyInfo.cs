// Every test boots QEMU guests under TCG on a small machine: running two at once only makes
// both slower and their timeouts meaningless.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
