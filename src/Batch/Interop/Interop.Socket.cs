using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
        internal static partial int Socket(int domain, int type, int protocol);

        [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
        internal static unsafe partial int Bind(SafeFdHandle fd, void* addr, uint addrLen);

        [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
        internal static unsafe partial int Connect(SafeFdHandle fd, void* addr, uint addrLen);

        [LibraryImport(Libraries.Libc, EntryPoint = "getsockname", SetLastError = true)]
        internal static unsafe partial int GetSockName(SafeFdHandle fd, void* addr, uint* addrLen);

        [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }
}
