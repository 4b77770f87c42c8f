using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1;
    internal const int EPOLL_CTL_DEL = 2;
    internal const int EPOLL_CTL_MOD = 3;
    internal const uint EPOLLIN = 0x1;
    internal const uint EPOLLOUT = 0x4;
    internal const uint EPOLLERR = 0x8;
    internal const uint EPOLLHUP = 0x10;
    internal const uint EPOLLONESHOT = 1u << 30;

    /// <summary>
    /// struct epoll_event: u32 events, then u64 data. x86-64 declares it packed (12 bytes, data at 4); every other
    /// architecture aligns data (16 bytes, data at 8). Entries are read through these, never through a struct mirror.
    /// </summary>
    internal static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    internal static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_create1", SetLastError = true)]
        internal static partial int EpollCreate1(int flags);

        /// <summary>epoll_ctl; <paramref name="ev"/> points at one epoll_event laid out as <see cref="EpollEventSize"/> says.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
        internal static unsafe partial int EpollCtl(int epfd, int op, int fd, byte* ev);

        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_wait", SetLastError = true)]
        internal static unsafe partial int EpollWait(int epfd, byte* events, int maxEvents, int timeoutMs);
    }
}
