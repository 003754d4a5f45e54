// Session tests start writer threads and run tshark; one at a time keeps them quick on 2 cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
