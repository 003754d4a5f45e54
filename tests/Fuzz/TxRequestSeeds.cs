namespace VhostDeviceCan.Fuzz;

/// <summary>The request rows of the decoder's unit tests, each behind its feature byte
/// (C = 1, F = 2, R = 4, LATE_TX_ACK = 8).</summary>
internal static class TxRequestSeeds
{
    private static readonly (string Name, int Features, string Request)[] Rows =
    [
        ("classic", 1, "0100 0400 00 00 0000 00000000 23010000 DEADBEEF"),
        ("classic-empty", 1, "0100 0000 00 00 0000 00000000 23010000"),
        ("classic-8", 1, "0100 0800 00 00 0000 00000000 FF070000 1122334455667788"),
        ("extended", 1, "0100 0100 00 00 0000 00800000 78563412 00"),
        ("extended-max-id", 1, "0100 0000 00 00 0000 00800000 FFFFFF1F"),
        ("all-features", 15, "0100 0200 00 00 0000 00000000 23010000 AABB"),
        ("reserved-fields", 1, "0100 0100 0F FF FFFF 00000000 23010000 AA CCCCCC"),
        ("rtr-with-bytes", 5, "0100 0400 00 00 0000 00200000 23010000 00000000"),
        ("rtr", 5, "0100 0800 00 00 0000 00200000 23010000"),
        ("rtr-extended", 5, "0100 0000 00 00 0000 00A00000 23010000"),
        ("fd-8", 2, "0100 0800 00 00 0000 00400000 23010000 0102030405060708"),
        ("fd-9", 2, "0100 0900 00 00 0000 00400000 23010000 010203040506070809"),
        ("fd-12", 2, "0100 0C00 00 00 0000 00400000 23010000 0102030405060708090A0B0C"),
        ("fd-extended-empty", 3, "0100 0000 00 00 0000 00C00000 FFFFFF1F"),
        ("fd-64", 2, "0100 4000 00 00 0000 00400000 23010000" + new string('A', 128)),
        ("too-short", 1, "0100 0000 00 00 0000 00000000 230100"),
        ("bad-type", 1, "0101 0000 00 00 0000 00000000 23010000"),
        ("undefined-flags", 15, "0100 0000 00 00 0000 00100000 23010000"),
        ("fd-not-negotiated", 5, "0100 0000 00 00 0000 00400000 23010000"),
        ("rtr-with-fd", 7, "0100 0000 00 00 0000 00600000 23010000"),
        ("length-out-of-range", 3, "0100 0900 00 00 0000 00000000 23010000 010203040506070809"),
        ("fd-length-out-of-range", 2, "0100 FFFF 00 00 0000 00400000 23010000"),
        ("truncated", 1, "0100 0400 00 00 0000 00000000 23010000 DEADBE"),
        ("standard-id-out-of-range", 1, "0100 0000 00 00 0000 00000000 00080000"),
        ("extended-id-out-of-range", 1, "0100 0000 00 00 0000 00800000 FFFFFFFF"),
    ];

    public static IEnumerable<(string Name, byte[] Bytes)> All() =>
        Rows.Select(r => (r.Name, (byte[])[(byte)r.Features, .. Seeds.Hex(r.Request)]));
}
