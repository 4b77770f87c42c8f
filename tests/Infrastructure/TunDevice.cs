using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// A TUN device opened inside a test namespace (IFF_TUN | IFF_NO_PI, no TUNSETOFFLOAD): what the kernel routes to it is
/// read back here as IPv4 packets. Without offloads it has no checksum offload, so a UDP GSO send through it fails EIO.
/// </summary>
internal sealed unsafe partial class TunDevice : IDisposable
{
    private const uint TUNSETIFF = 0x400454ca;
    private const short IFF_TUN = 0x0001;
    private const short IFF_NO_PI = 0x1000;
    private const int O_RDWR = 2;
    private const int O_NONBLOCK = 0x800;
    private const int O_CLOEXEC = 0x80000;

    private int _fd;

    private TunDevice(int fd, string name)
    {
        _fd = fd;
        Name = name;
    }

    internal string Name { get; }

    internal static TunDevice Create(NetNs ns, string name) => ns.Run(() =>
    {
        int fd = Open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            throw new InvalidOperationException("open(/dev/net/tun) failed: errno " + Marshal.GetLastPInvokeError());
        }

        byte* ifr = stackalloc byte[40]; // struct ifreq: ifr_name[16], then ifr_flags (short)
        new Span<byte>(ifr, 40).Clear();
        System.Text.Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, 15));
        *(short*)(ifr + 16) = IFF_TUN | IFF_NO_PI;
        if (Ioctl(fd, TUNSETIFF, ifr) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = Close(fd);
            throw new InvalidOperationException("ioctl(TUNSETIFF) failed: errno " + errno);
        }

        return new TunDevice(fd, name);
    });

    /// <summary>
    /// Reads the next IPv4 UDP packet to <paramref name="port"/> and returns its UDP payload length (copied into
    /// <paramref name="payload"/>), skipping anything else (IPv6 router solicitations); 0 after <paramref name="timeoutMs"/>.
    /// </summary>
    internal int ReadUdp(Span<byte> payload, int port, int timeoutMs)
    {
        byte* buf = stackalloc byte[65536];
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            nint n = Read(_fd, buf, 65536);
            if (n > 0)
            {
                var packet = new ReadOnlySpan<byte>(buf, (int)n);
                if ((packet[0] >> 4) != 4 || packet[9] != 17)
                {
                    continue;
                }

                int ihl = (packet[0] & 0xF) * 4;
                if (BinaryPrimitives.ReadUInt16BigEndian(packet[(ihl + 2)..]) != port)
                {
                    continue;
                }

                int length = BinaryPrimitives.ReadUInt16BigEndian(packet[(ihl + 4)..]) - 8;
                packet.Slice(ihl + 8, length).CopyTo(payload);
                return length;
            }

            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return 0;
            }

            PollFd p;
            p.Fd = _fd;
            p.Events = 1; // POLLIN
            p.REvents = 0;
            Poll(&p, 1, (int)Math.Min(left, 100));
        }
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            _ = Close(_fd);
            _fd = -1;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
