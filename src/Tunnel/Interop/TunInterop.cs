using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Tunnel;

// TUN/TAP from the Linux UAPI (linux/if_tun.h, linux/virtio_net.h), and the file calls a device needs.
internal static partial class TunInterop
{
    internal const int O_RDWR = 2;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;

    /// <summary>_IOW('T', 202, int): attaches the fd to a TUN/TAP device, creating it (linux/if_tun.h).</summary>
    internal const uint TUNSETIFF = 0x400454ca;
    internal const short IFF_TUN = 0x0001;
    internal const short IFF_TAP = 0x0002;
    internal const short IFF_MULTI_QUEUE = 0x0100;
    internal const short IFF_NO_PI = 0x1000;
    internal const short IFF_VNET_HDR = 0x4000;

    /// <summary>_IOW('T', 208, unsigned int): the offloads the reader takes (TUN_F_*); EINVAL for a flag the kernel lacks.</summary>
    internal const uint TUNSETOFFLOAD = 0x400454d0;

    /// <summary>SIOCGIFMTU, SIOCSIFMTU (linux/sockios.h): a device's MTU through any socket of its namespace.</summary>
    internal const uint SIOCGIFMTU = 0x8921;
    internal const uint SIOCSIFMTU = 0x8922;

    /// <summary>sizeof(struct virtio_net_hdr): the header in front of every frame on an IFF_VNET_HDR device.</summary>
    internal const int VirtioNetHdrSize = 10;

    /// <summary>sizeof(struct ifreq) on LP64: ifr_name[16], then a 24-byte union whose first member here is ifr_flags.</summary>
    internal const int IfReqSize = 40;

    internal const int IfNameSize = 16;

    internal static partial class Sys
    {
        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "open", SetLastError = true)]
        internal static unsafe partial int Open(byte* path, int flags);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static unsafe partial int Ioctl(SafeFdHandle fd, nuint request, void* arg);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "read", SetLastError = true)]
        internal static unsafe partial nint Read(SafeFdHandle fd, byte* buffer, nuint count);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "write", SetLastError = true)]
        internal static unsafe partial nint Write(SafeFdHandle fd, byte* buffer, nuint count);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "writev", SetLastError = true)]
        internal static unsafe partial nint Writev(SafeFdHandle fd, Interop.IoVec* iov, int count);
    }
}
