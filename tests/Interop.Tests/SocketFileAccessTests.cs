using System.Collections.Concurrent;

namespace VhostDeviceCan.Interop.Tests;

/// <summary>UnixSocket.Listen with a chosen mode and group, on real socket files.</summary>
public sealed class SocketFileAccessTests : IDisposable
{
    private const uint Rw_r_____ = 0b110_100_000;
    private readonly string _directory = Directory.CreateTempSubdirectory("vdc-access-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static unsafe Libc.StatBuffer Lstat(string path)
    {
        Libc.StatBuffer stat = default;
        Assert.Equal(0, Libc.lstat(path, &stat));
        return stat;
    }

    /// <summary>The gid of a group other than root's, from /etc/group itself.</summary>
    private static uint DaemonGroup() =>
        uint.Parse(File.ReadLines("/etc/group").First(l => l.StartsWith("daemon:", StringComparison.Ordinal)).Split(':')[2],
            System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(0b110_110_000u)]
    [InlineData(0b110_000_000u)]
    [InlineData(0b111_111_111u)]
    [InlineData(0b110_110_110u)]
    public void The_socket_file_has_exactly_the_mode_asked_and_accepts(uint mode)
    {
        string path = Path.Combine(_directory, "can.sock0");
        using var listener = UnixSocket.Listen(path, new SocketFileAccess(mode, null));

        Libc.StatBuffer stat = Lstat(path);
        Assert.Equal(Libc.S_IFSOCK, stat.Mode & Libc.S_IFMT);
        Assert.Equal(Convert.ToString(mode, 8), Convert.ToString(stat.Mode & 0xFFF, 8));
        using var client = UnixSocket.Connect(path);
        using var accepted = listener.Accept();
        Assert.NotNull(accepted);
        // The private directory it was made in is gone.
        Assert.Equal([path], Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void The_socket_file_belongs_to_the_group_asked()
    {
        uint gid = DaemonGroup();
        Assert.NotEqual(0u, gid);
        string path = Path.Combine(_directory, "can.sock0");
        using var listener = UnixSocket.Listen(path, new SocketFileAccess(Rw_r_____, gid));

        Libc.StatBuffer stat = Lstat(path);
        Assert.Equal(gid, stat.Gid);
        Assert.Equal("640", Convert.ToString(stat.Mode & 0xFFF, 8));
    }

    [Fact]
    public void The_file_appears_at_its_path_with_its_final_mode_and_group_never_changed_there()
    {
        // Bind at the path and chmod afterwards would show up as an attribute change of the file
        // at its final name; moved in from the private directory, it only ever appears.
        var changed = new ConcurrentQueue<string>();
        using var marked = new ManualResetEventSlim();
        using var watcher = new FileSystemWatcher(_directory)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.Attributes | NotifyFilters.Security,
        };
        watcher.Changed += (_, e) => changed.Enqueue(e.Name!);
        watcher.Created += (_, e) => { if (e.Name == "marker") marked.Set(); };
        watcher.EnableRaisingEvents = true;

        string path = Path.Combine(_directory, "can.sock0");
        using var listener = UnixSocket.Listen(path, new SocketFileAccess(Rw_r_____, DaemonGroup()));
        // Events arrive in order: once the marker's has, every event of the socket file has too.
        File.WriteAllText(Path.Combine(_directory, "marker"), "");
        Assert.True(marked.Wait(TimeSpan.FromSeconds(10)), "the watcher saw nothing");

        Assert.DoesNotContain("can.sock0", changed);
        Assert.Equal("640", Convert.ToString(Lstat(path).Mode & 0xFFF, 8));
    }

    [Fact]
    public void A_path_too_long_for_the_private_directory_is_still_served()
    {
        // The final path fits a sockaddr_un (107 bytes); the staged one beside it would not.
        string deep = Path.Combine(_directory, new string('d', 100 - _directory.Length - 1 - "/can.sock0".Length));
        Directory.CreateDirectory(deep);
        string path = Path.Combine(deep, "can.sock0");
        Assert.Equal(100, path.Length);

        using var listener = UnixSocket.Listen(path, new SocketFileAccess(0b110_110_000, null));
        Assert.Equal("660", Convert.ToString(Lstat(path).Mode & 0xFFF, 8));
        using var client = UnixSocket.Connect(path);
        Assert.NotNull(listener.Accept());
        Assert.Equal([path], Directory.GetFileSystemEntries(deep));
    }

    [Theory]
    [InlineData("regular file")]
    [InlineData("socket")]
    public void Whatever_is_at_the_path_is_never_replaced(string kind)
    {
        string path = Path.Combine(_directory, "can.sock0");
        using UnixSocket? other = kind == "socket" ? UnixSocket.Listen(path) : null;
        if (other is null) File.WriteAllText(path, "data\n");

        var error = Assert.Throws<IOException>(() => UnixSocket.Listen(path, new SocketFileAccess(0b110_110_000, null)));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(kind, UnixSocket.DescribePath(path));
        if (other is null) Assert.Equal("data\n", File.ReadAllText(path));
        else
        {
            using var client = UnixSocket.Connect(path);
            Assert.NotNull(other.Accept());
        }
        Assert.Equal([path], Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void Groups_are_found_by_name_and_unknown_ones_named()
    {
        Assert.True(GroupDatabase.TryGetId("root", out uint root, out _));
        Assert.Equal(0u, root);
        Assert.True(GroupDatabase.TryGetId("daemon", out uint daemon, out _));
        Assert.Equal(DaemonGroup(), daemon);
        Assert.False(GroupDatabase.TryGetId("no-such-group-vdc", out _, out string? problem));
        Assert.Equal("no group named 'no-such-group-vdc'", problem);
    }
}
