using System.Runtime.InteropServices;
using System.Text;

using Perf.Batch;

namespace Perf.Tunnel;

/// <summary>
/// A TAP (Ethernet frames) or TUN (IP packets) device this process creates and owns: the tunnel end a VPN or tunnel
/// gateway reads outgoing frames from and writes incoming ones to. With <see cref="TapOptions"/> frames carry a
/// <see cref="VirtioNetHeader"/> and may be super-packets of up to 64 KB (<see cref="Offloads"/>). Reads and writes never block; <see cref="WaitReadableAsync"/>
/// waits for the next frame without holding a thread. The device lives until <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// The device appears in the network namespace of the calling thread, down and unaddressed: the user brings it up
/// (<c>ip addr add</c>, <c>ip link set up</c>). Creating one needs CAP_NET_ADMIN. Not thread-safe for reads: one reader
/// at a time; writes may come from another thread.
/// </remarks>
public sealed class TapDevice : IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly ReadinessWaiter _waiter = new();

    private TapDevice(SafeFdHandle fd, string name, bool tun, bool vnetHeader, TunnelOffloads offloads)
    {
        _fd = fd;
        Name = name;
        IsTun = tun;
        HasVirtioNetHeader = vnetHeader;
        Offloads = offloads;
    }

    /// <summary>The device's name.</summary>
    public string Name { get; }

    /// <summary>True for a TUN device (IP packets), false for TAP (Ethernet frames).</summary>
    public bool IsTun { get; }

    /// <summary>Whether every frame starts with a <see cref="VirtioNetHeader"/> (<see cref="TapOptions.VirtioNetHeader"/>).</summary>
    public bool HasVirtioNetHeader { get; }

    /// <summary>The offloads the kernel granted: what frames read from the device may be (super-packets, unfinished checksums).</summary>
    public TunnelOffloads Offloads { get; }

    /// <summary>Creates the TAP device <paramref name="name"/> (IFF_TAP | IFF_NO_PI: frames without a packet-info prefix).</summary>
    /// <exception cref="PerfSocketException">Creating it failed: EPERM without CAP_NET_ADMIN, EBUSY when it exists and is in use.</exception>
    public static TapDevice CreateTap(string name) => Create(name, tun: false, s_plain);

    /// <summary>Creates (or, with <see cref="TapOptions.MultiQueue"/>, attaches one more queue of) the TAP device <paramref name="name"/>.</summary>
    /// <exception cref="PerfSocketException">Creating it failed, or the kernel refused every offload form asked for.</exception>
    public static TapDevice CreateTap(string name, TapOptions options) => Create(name, tun: false, options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>Creates the TUN device <paramref name="name"/> (IFF_TUN | IFF_NO_PI: bare IP packets).</summary>
    /// <exception cref="PerfSocketException">Creating it failed.</exception>
    public static TapDevice CreateTun(string name) => Create(name, tun: true, s_plain);

    /// <summary>Creates (or attaches one more queue of) the TUN device <paramref name="name"/>.</summary>
    /// <exception cref="PerfSocketException">Creating it failed.</exception>
    public static TapDevice CreateTun(string name, TapOptions options) => Create(name, tun: true, options ?? throw new ArgumentNullException(nameof(options)));

    private static readonly TapOptions s_plain = new();

    private static unsafe TapDevice Create(string name, bool tun, TapOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (options.Offloads != TunnelOffloads.None && !options.VirtioNetHeader)
        {
            ThrowHelper.ThrowArgument("Offloads need TapOptions.VirtioNetHeader: the kernel says how to cut a super-packet there.", nameof(options));
        }

        if (name.Length >= TunInterop.IfNameSize || !Ascii.IsValid(name) || name.Contains('/', StringComparison.Ordinal) || name.Contains(' ', StringComparison.Ordinal))
        {
            ThrowHelper.ThrowArgument("A device name is 1-15 ASCII characters without '/' or spaces: '" + name + "'.", nameof(name));
        }

        byte* path = stackalloc byte[] { (byte)'/', (byte)'d', (byte)'e', (byte)'v', (byte)'/', (byte)'n', (byte)'e', (byte)'t', (byte)'/', (byte)'t', (byte)'u', (byte)'n', 0 };
        int raw = TunInterop.Sys.Open(path, TunInterop.O_RDWR | TunInterop.O_NONBLOCK | TunInterop.O_CLOEXEC);
        if (raw < 0)
        {
            ThrowHelper.ThrowSocket("open(/dev/net/tun)", Marshal.GetLastPInvokeError());
        }

        var fd = new SafeFdHandle(raw);
        byte* ifr = stackalloc byte[TunInterop.IfReqSize];
        new Span<byte>(ifr, TunInterop.IfReqSize).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, TunInterop.IfNameSize - 1));
        short flags = (short)((tun ? TunInterop.IFF_TUN : TunInterop.IFF_TAP) | TunInterop.IFF_NO_PI);
        flags |= options.VirtioNetHeader ? TunInterop.IFF_VNET_HDR : (short)0;
        flags |= options.MultiQueue ? TunInterop.IFF_MULTI_QUEUE : (short)0;
        *(short*)(ifr + TunInterop.IfNameSize) = flags;
        if (TunInterop.Sys.Ioctl(fd, TunInterop.TUNSETIFF, ifr) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            fd.Dispose();
            ThrowHelper.ThrowSocket("ioctl(TUNSETIFF, " + name + ")", errno,
                errno == Errno.EPERM ? "creating a TUN/TAP device needs CAP_NET_ADMIN" : null);
        }

        TunnelOffloads granted = TunnelOffloads.None;
        if (options.Offloads != TunnelOffloads.None)
        {
            granted = SetOffloads(fd, name, options);
        }

        return new TapDevice(fd, name, tun, options.VirtioNetHeader, granted);
    }

    // TUNSETOFFLOAD answers EINVAL for a flag the kernel does not know: USO came with 6.2, so without it the rest is asked
    // again.
    private static unsafe TunnelOffloads SetOffloads(SafeFdHandle fd, string name, TapOptions options)
    {
        const TunnelOffloads Uso = TunnelOffloads.Uso4 | TunnelOffloads.Uso6;
        TunnelOffloads asked = options.Offloads;
        foreach (TunnelOffloads attempt in (ReadOnlySpan<TunnelOffloads>)[asked, asked & ~Uso])
        {
            if (TunInterop.Sys.Ioctl(fd, TunInterop.TUNSETOFFLOAD, (void*)(nuint)(uint)attempt) == 0)
            {
                return attempt;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINVAL || (attempt & Uso) == 0)
            {
                fd.Dispose();
                ThrowHelper.ThrowSocket("ioctl(TUNSETOFFLOAD, " + name + ", " + attempt + ")", errno);
            }
        }

        return TunnelOffloads.None; // not reached: the second attempt returned or threw
    }

    /// <summary>
    /// The device's MTU (SIOCGIFMTU/SIOCSIFMTU). Read and set from a thread in the network namespace the device was
    /// created in: the name is looked up there. Setting it needs CAP_NET_ADMIN.
    /// </summary>
    /// <exception cref="PerfSocketException">The kernel refused (EINVAL for an MTU out of the device's range).</exception>
    public int Mtu
    {
        get => MtuIoctl(TunInterop.SIOCGIFMTU, 0);
        set => MtuIoctl(TunInterop.SIOCSIFMTU, value);
    }

    private unsafe int MtuIoctl(uint request, int mtu)
    {
        int raw = Interop.Sys.Socket(Interop.AF_INET, Interop.SOCK_DGRAM | Interop.SOCK_CLOEXEC, 0);
        if (raw < 0)
        {
            ThrowHelper.ThrowSocket("socket(AF_INET) for the MTU of " + Name, Marshal.GetLastPInvokeError());
        }

        using var socket = new SafeFdHandle(raw);
        byte* ifr = stackalloc byte[TunInterop.IfReqSize];
        new Span<byte>(ifr, TunInterop.IfReqSize).Clear();
        Encoding.ASCII.GetBytes(Name, new Span<byte>(ifr, TunInterop.IfNameSize - 1));
        *(int*)(ifr + TunInterop.IfNameSize) = mtu; // ifr_mtu
        if (TunInterop.Sys.Ioctl(socket, request, ifr) < 0)
        {
            ThrowHelper.ThrowSocket((request == TunInterop.SIOCSIFMTU ? "SIOCSIFMTU " + mtu.ToString(System.Globalization.CultureInfo.InvariantCulture) : "SIOCGIFMTU") + " on " + Name, Marshal.GetLastPInvokeError());
        }

        return *(int*)(ifr + TunInterop.IfNameSize);
    }

    /// <summary>Reads the next frame into <paramref name="frame"/> without waiting.</summary>
    /// <returns>The frame's length, or -1 when none is queued. A frame longer than the span is cut to it.</returns>
    /// <exception cref="PerfSocketException">The read failed otherwise.</exception>
    public unsafe int TryRead(Span<byte> frame)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                nint n = TunInterop.Sys.Read(_fd, p, (nuint)frame.Length);
                if (n >= 0)
                {
                    return (int)n;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EAGAIN)
                {
                    return -1;
                }

                if (errno != Errno.EINTR)
                {
                    ThrowHelper.ThrowSocket("read(" + Name + ")", errno);
                }
            }
        }
    }

    /// <summary>Completes when a frame can be read (or at once if one is queued); holds no thread meanwhile.</summary>
    /// <exception cref="OperationCanceledException">When <paramref name="cancellationToken"/> is cancelled first.</exception>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WaitReadableAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        await _waiter.WaitAsync(_fd, write: false, Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Writes one frame to the device: the kernel receives it as if from a wire.</summary>
    /// <returns>0 when written, else the errno: EIO while the device is down, EINVAL for a malformed frame.</returns>
    public unsafe int Write(ReadOnlySpan<byte> frame)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                nint n = TunInterop.Sys.Write(_fd, p, (nuint)frame.Length);
                if (n >= 0)
                {
                    return 0;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    return errno;
                }
            }
        }
    }

    /// <summary>
    /// Writes one frame behind <paramref name="header"/> to a device with <see cref="HasVirtioNetHeader"/>, in one call
    /// (writev): the frame stays where it is. A header with a GSO type makes the kernel take the frame as a super-packet.
    /// </summary>
    /// <returns>0 when written, else the errno: EIO while the device is down, EINVAL for a header the frame does not fit.</returns>
    /// <exception cref="InvalidOperationException">The device was opened without the virtio-net header.</exception>
    public unsafe int Write(in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        if (!HasVirtioNetHeader)
        {
            ThrowHelper.ThrowInvalidOperation("The device " + Name + " was opened without TapOptions.VirtioNetHeader: its frames carry no header.");
        }

        VirtioNetHeader copy = header;
        fixed (byte* p = frame)
        {
            Interop.IoVec* iov = stackalloc Interop.IoVec[2];
            iov[0] = new Interop.IoVec { Base = (byte*)&copy, Length = VirtioNetHeader.Size };
            iov[1] = new Interop.IoVec { Base = p, Length = (nuint)frame.Length };
            while (true)
            {
                if (TunInterop.Sys.Writev(_fd, iov, 2) >= 0)
                {
                    return 0;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    return errno;
                }
            }
        }
    }

    /// <summary>Closes the device (a device this process created disappears with it); a wait in progress ends.</summary>
    public void Dispose()
    {
        _waiter.Abort();
        _fd.Dispose();
    }
}
