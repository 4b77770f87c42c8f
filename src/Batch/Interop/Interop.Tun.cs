using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal const int O_RDWR = 2;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;

    /// <summary>_IOW('T', 202, int): attaches the fd to a TUN/TAP device, creating it (linux/if_tun.h).</summary>
    internal const uint TUNSETIFF = 0x400454ca;
    internal const short IFF_TUN = 0x0001;
    internal const short IFF_TAP = 0x0002;
    internal const short IFF_NO_PI = 0x1000;

    /// <summary>sizeof(struct ifreq) on LP64: ifr_name[16], then a 24-byte union whose first member here is ifr_flags.</summary>
    internal const int IfReqSize = 40;

    internal const int IfNameSize = 16;

    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true)]
        internal static unsafe partial int Open(byte* path, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static unsafe partial int Ioctl(SafeFdHandle fd, nuint request, void* arg);

        [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
        internal static unsafe partial nint Read(SafeFdHandle fd, byte* buffer, nuint count);

        [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
        internal static unsafe partial nint Write(SafeFdHandle fd, byte* buffer, nuint count);
    }
}
