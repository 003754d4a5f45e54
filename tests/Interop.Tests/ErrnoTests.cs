namespace VhostDeviceCan.Interop.Tests;

/// <summary>Every message about a failed system call reads "what: strerror text (NAME)".</summary>
public class ErrnoTests
{
    [Theory]
    [InlineData(Errno.ENOENT, "No such file or directory (ENOENT)")]
    [InlineData(Errno.ECONNREFUSED, "Connection refused (ECONNREFUSED)")]
    [InlineData(Errno.EADDRINUSE, "Address already in use (EADDRINUSE)")]
    [InlineData(Errno.EPERM, "Operation not permitted (EPERM)")]
    [InlineData(Errno.ENODEV, "No such device (ENODEV)")]
    [InlineData(Errno.ENOTSOCK, "Socket operation on non-socket (ENOTSOCK)")]
    [InlineData(133, "Memory page has hardware error (EHWPOISON)")]
    public void Describe_gives_the_c_library_text_then_the_name(int errno, string expected) =>
        Assert.Equal(expected, Errno.Describe(errno));

    [Theory]
    [InlineData(35, "EDEADLK")]
    [InlineData(40, "ELOOP")]
    [InlineData(42, "ENOMSG")]
    [InlineData(95, "EOPNOTSUPP")]
    [InlineData(110, "ETIMEDOUT")]
    [InlineData(122, "EDQUOT")]
    [InlineData(41, "errno 41")]
    [InlineData(4095, "errno 4095")]
    [InlineData(-1, "errno -1")]
    public void Every_linux_errno_has_its_name_and_others_their_number(int errno, string expected) =>
        Assert.Equal(expected, Errno.Name(errno));

    [Fact]
    public void A_failed_call_is_named_with_its_argument_and_errno()
    {
        var error = Assert.Throws<SyscallException>(() => UnixSocket.Connect("/nonexistent-vdc/can.sock0"));
        Assert.Equal("connect(/nonexistent-vdc/can.sock0): No such file or directory (ENOENT)", error.Message);
        Assert.Equal(Errno.ENOENT, error.ErrorNumber);
    }

    [Fact]
    public void Format_puts_what_was_attempted_first() =>
        Assert.Equal("fcntl(F_GET_SEALS): Invalid argument (EINVAL)", Errno.Format("fcntl(F_GET_SEALS)", Errno.EINVAL));
}
