using System.Buffers.Binary;
using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// One CAN bus across daemons: four daemons with two simulated guests each, joined over
/// cannelloni UDP on loopback ports to a hub daemon whose one guest socket stays unconnected. Every guest sends at
/// a stated rate; every other guest must get each frame exactly once, in its sender's order.
/// </summary>
public sealed class HubTests
{
    private const int Daemons = 4, GuestsEach = 2;

    /// <summary>Frames per second each guest sends: 8 guests, 2,000 frames/s on the bus in all.</summary>
    private const int RatePerGuest = 250;

    private static readonly TimeSpan Phase = TimeSpan.FromSeconds(2);

    [Fact]
    public void Four_daemons_through_a_hub_deliver_every_frame_once_in_order_and_one_killed_daemon_rejoins()
    {
        int[] hubPorts = [.. Enumerable.Range(0, Daemons).Select(_ => FreePort())];
        int[] ports = [.. Enumerable.Range(0, Daemons).Select(_ => FreePort())];
        using var hub = Bridged(1, [.. Enumerable.Range(0, Daemons).Select(d => Bridge(hubPorts[d], ports[d]))]);
        var daemons = new DaemonProcess[Daemons];
        var guests = new VirtioCanGuest[Daemons * GuestsEach];
        try
        {
            for (int d = 0; d < Daemons; d++) StartDaemon(d);

            // Everyone to everyone.
            Exchange(guests, phase: 1, stopAfter: null);

            // Daemon 3 killed a second into the traffic: the others never stop; what it had sent
            // may arrive in part, but only in order and never twice.
            Exchange(guests, phase: 2, stopAfter: (TimeSpan.FromSeconds(1), [6, 7], () =>
            {
                daemons[3].Signal("KILL");
                daemons[3].Process.WaitForExit(Patience);
            }));
            Assert.All(daemons[..3], d => Assert.False(d.HasExited, d.Output));
            Assert.False(hub.HasExited, hub.Output);

            // Started again on the same ports: it rejoins, and its guests hear and are heard.
            guests[6].Dispose();
            guests[7].Dispose();
            daemons[3].Dispose();
            StartDaemon(3);
            Exchange(guests, phase: 3, stopAfter: null);
        }
        finally
        {
            foreach (VirtioCanGuest? guest in guests) guest?.Dispose();
            foreach (DaemonProcess? daemon in daemons) daemon?.Dispose();
        }

        void StartDaemon(int d)
        {
            daemons[d] = Bridged(GuestsEach, Bridge(ports[d], hubPorts[d]));
            for (int g = 0; g < GuestsEach; g++) guests[d * GuestsEach + g] = Started(daemons[d].Socket(g));
        }
    }

    /// <summary>
    /// Every guest sends <see cref="RatePerGuest"/> frames/s for <see cref="Phase"/>, then every
    /// frame must have reached every other live guest. <paramref name="stopAfter"/> runs its
    /// action at its time and retires its guests: from then on they neither send nor are checked
    /// for completeness, and what they sent before must have arrived as an in-order prefix.
    /// </summary>
    private static void Exchange(VirtioCanGuest[] guests, int phase, (TimeSpan At, int[] Guests, Action Act)? stopAfter)
    {
        int n = guests.Length;
        int total = (int)(RatePerGuest * Phase.TotalSeconds);
        var sent = new int[n];
        var next = new int[n, n];
        var retired = new bool[n];
        var batch = new CanFrame[64];
        Span<byte> payload = stackalloc byte[8];
        var clock = Stopwatch.StartNew();
        TimeSpan deadline = Phase + Patience;
        while (true)
        {
            if (stopAfter is { } stop && !retired[stop.Guests[0]] && clock.Elapsed >= stop.At)
            {
                foreach (int g in stop.Guests) retired[g] = true;
                stop.Act();
            }
            int due = Math.Min(total, (int)(clock.Elapsed.TotalSeconds * RatePerGuest) + 1);
            for (int s = 0; s < n; s++)
            {
                if (retired[s]) continue;
                guests[s].CollectTxCompletions();
                int before = sent[s];
                while (sent[s] < due)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(payload, sent[s]);
                    payload[4] = (byte)phase;
                    payload[5] = (byte)s;
                    if (!guests[s].TrySend(CanFrame.Classic(0x100 + (uint)s, false, payload))) break;
                    sent[s]++;
                }
                if (sent[s] != before) guests[s].Flush();
            }
            bool complete = true;
            for (int r = 0; r < n; r++)
            {
                if (retired[r]) continue;
                int got;
                while ((got = guests[r].Receive(batch)) > 0)
                    for (int k = 0; k < got; k++) Check(r, batch[k], phase, next);
                for (int s = 0; s < n; s++)
                    if (s != r && !retired[s] && next[r, s] < total) complete = false;
            }
            if (complete && sent.Where((_, s) => !retired[s]).All(c => c == total)) break;
            Assert.True(clock.Elapsed < deadline,
                $"phase {phase}: after {clock.Elapsed.TotalSeconds:0.0} s sent [{string.Join(',', sent)}]; received per receiver "
                + string.Join(' ', Enumerable.Range(0, n).Select(r => "[" + string.Join(',', Enumerable.Range(0, n).Select(s => next[r, s])) + "]")));
            Thread.Sleep(1);
        }
        // Quiet afterwards: no late duplicate, nothing from the wrong phase.
        for (int r = 0; r < n; r++)
            if (!retired[r])
            {
                int late = guests[r].Receive(batch, Quiet);
                for (int k = 0; k < late; k++) Check(r, batch[k], phase, next);
            }
        for (int r = 0; r < n; r++)
            if (!retired[r]) Assert.Equal(0, guests[r].RxDropped);
    }

    /// <summary>Frame from sender s in this phase with exactly the next sequence number s owes r.</summary>
    private static void Check(int r, in CanFrame frame, int phase, int[,] next)
    {
        Assert.True(frame.Len == 8 && !frame.IsExtended && frame.Data[4] == phase, $"receiver {r}: unexpected frame {frame} in phase {phase}");
        int s = frame.Data[5];
        Assert.True(s != r && frame.Id == 0x100 + (uint)s, $"receiver {r}: frame {frame} names sender {s}");
        int sequence = BinaryPrimitives.ReadInt32LittleEndian(frame.Data);
        Assert.True(sequence == next[r, s], $"phase {phase}: receiver {r} got frame {sequence} of sender {s}, expected {next[r, s]} (lost, repeated or reordered)");
        next[r, s]++;
    }
}
