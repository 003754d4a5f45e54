namespace VhostDeviceCan.Can.Tests;

/// <summary>How SocketCAN echoes are matched to the frames sent (<see cref="PendingEchoes"/>):
/// by content, oldest first, each reporting its own tag and nobody else's.</summary>
public sealed class PendingEchoesTests
{
    private static CanFrame Frame(uint id, byte data = 0) => CanFrame.Classic(id, false, [data]);

    private static byte[] Echo(CanFrame frame) => frame.WireBytes.ToArray();

    private static (bool Done, TxOutcome[] Outcomes) Match(PendingEchoes pending, CanFrame echo, int room = 8)
    {
        var outcomes = new TxOutcome[room];
        int count = 0;
        bool done = pending.TryMatch(Echo(echo), outcomes, ref count);
        return (done, outcomes[..count]);
    }

    private static TxOutcome Confirmed(ulong tag) => new(new TxTag(tag), true);
    private static TxOutcome Failed(ulong tag) => new(new TxTag(tag), false);

    [Fact]
    public void Each_echo_confirms_the_tag_its_frame_was_sent_with()
    {
        var pending = new PendingEchoes(16);
        pending.Add(Frame(0x10).WireBytes, new TxTag(7));
        pending.Add(Frame(0x11).WireBytes, new TxTag(3));

        Assert.Equal([Confirmed(7)], Match(pending, Frame(0x10)).Outcomes);
        Assert.Equal([Confirmed(3)], Match(pending, Frame(0x11)).Outcomes);
        Assert.Equal(0, pending.Count);
    }

    [Fact]
    public void Identical_frames_are_confirmed_in_send_order()
    {
        var pending = new PendingEchoes(16);
        pending.Add(Frame(0x10, 1).WireBytes, new TxTag(1));
        pending.Add(Frame(0x10, 1).WireBytes, new TxTag(2));
        Assert.Equal([Confirmed(1)], Match(pending, Frame(0x10, 1)).Outcomes);
        Assert.Equal([Confirmed(2)], Match(pending, Frame(0x10, 1)).Outcomes);
    }

    [Fact]
    public void An_echo_that_matches_nothing_confirms_nothing()
    {
        var pending = new PendingEchoes(16);
        pending.Add(Frame(0x10).WireBytes, new TxTag(1));
        // Another frame (tracking was reset since it was sent), or the same one echoed twice.
        Assert.Empty(Match(pending, Frame(0x99)).Outcomes);
        Assert.Equal([Confirmed(1)], Match(pending, Frame(0x10)).Outcomes);
        Assert.Empty(Match(pending, Frame(0x10)).Outcomes);
    }

    [Fact]
    public void Frames_skipped_by_an_echo_were_dropped_and_are_reported_failed()
    {
        var pending = new PendingEchoes(16);
        pending.Add(Frame(0x10).WireBytes, new TxTag(1));
        pending.Add(Frame(0x11).WireBytes, new TxTag(2));
        pending.Add(Frame(0x12).WireBytes, new TxTag(3));
        Assert.Equal([Failed(1), Failed(2), Confirmed(3)], Match(pending, Frame(0x12)).Outcomes);
        Assert.Equal(0, pending.Count);
    }

    [Fact]
    public void Without_room_the_echo_waits_and_nothing_is_lost()
    {
        var pending = new PendingEchoes(16);
        pending.Add(Frame(0x10).WireBytes, new TxTag(1));
        pending.Add(Frame(0x11).WireBytes, new TxTag(2));
        var (done, outcomes) = Match(pending, Frame(0x11), room: 1);
        Assert.False(done);
        Assert.Equal([Failed(1)], outcomes);
        (done, outcomes) = Match(pending, Frame(0x11), room: 1);
        Assert.True(done);
        Assert.Equal([Confirmed(2)], outcomes);
    }

    [Fact]
    public void After_the_interface_drops_its_queue_every_frame_sent_is_reported_failed()
    {
        var pending = new PendingEchoes(16);
        for (ulong i = 1; i <= 3; i++) pending.Add(Frame((uint)i).WireBytes, new TxTag(i));
        pending.LoseAll();
        pending.Add(Frame(0x20).WireBytes, new TxTag(4));

        var outcomes = new TxOutcome[2];
        int count = 0;
        Assert.False(pending.ReportLost(outcomes, ref count));
        Assert.Equal([Failed(1), Failed(2)], outcomes);
        count = 0;
        Assert.True(pending.ReportLost(outcomes, ref count));
        Assert.Equal([Failed(3)], outcomes[..count]);
        // An echo of a lost frame (it went out after all) is not taken for a later one.
        Assert.Empty(Match(pending, Frame(1)).Outcomes);
        Assert.Equal([Confirmed(4)], Match(pending, Frame(0x20)).Outcomes);
    }

    [Fact]
    public void The_FD_flags_byte_the_kernel_adds_does_not_stop_a_match()
    {
        var pending = new PendingEchoes(4);
        byte[] echo = Echo(CanFrame.Fd(0x30, false, [1, 2, 3]));
        byte[] sent = (byte[])echo.Clone();
        sent[5] = 0;
        pending.Add(sent, new TxTag(5));
        var outcomes = new TxOutcome[1];
        int count = 0;
        Assert.True(pending.TryMatch(echo, outcomes, ref count));
        Assert.Equal([Confirmed(5)], outcomes[..count]);
    }
}
