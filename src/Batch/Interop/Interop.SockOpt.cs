using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
        internal static unsafe partial int SetSockOpt(SafeFdHandle fd, int level, int name, void* value, uint len);

        [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
        internal static unsafe partial int GetSockOpt(SafeFdHandle fd, int level, int name, void* value, uint* len);
    }
}
