using SharpFuzz;
using VhostDeviceCan.Fuzz;

// vhost-device-can-fuzz TARGET              run under afl-fuzz (tests/Fuzz/run.sh)
// vhost-device-can-fuzz TARGET FILE...      run the given inputs once each (reproduce a finding)
// vhost-device-can-fuzz seeds TARGET DIR    write the seed corpus of TARGET into DIR
if (args.Length >= 3 && args[0] == "seeds")
{
    int written = Seeds.Write(args[1], args[2]);
    Console.WriteLine($"{written} seed(s) for {args[1]} in {args[2]}");
    return 0;
}
if (args.Length == 0 || !Targets.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: vhost-device-can-fuzz {{{string.Join('|', Targets.Names)}}} [FILE...] | seeds TARGET DIR");
    return 2;
}
if (args.Length > 1)
{
    var target = Targets.Create(args[0]);
    int failed = 0;
    foreach (string file in args[1..])
    {
        try
        {
            target.Run(File.ReadAllBytes(file));
        }
        catch (Exception e)
        {
            failed++;
            Console.Error.WriteLine($"{file}: {e}");
        }
    }
    Console.WriteLine($"{args.Length - 1 - failed} of {args.Length - 1} input(s) ran clean");
    return failed == 0 ? 0 : 1;
}

var buffer = new MemoryStream();
IFuzzTarget? fuzzed = null;
Fuzzer.Run(stream =>
{
    // Created on the first input: instrumented code may only run once Fuzzer.Run has attached
    // afl-fuzz's coverage map, and the target's constructor already runs product code.
    fuzzed ??= Targets.Create(args[0]);
    buffer.SetLength(0);
    stream.CopyTo(buffer);
    fuzzed.Run(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
});
return 0;
