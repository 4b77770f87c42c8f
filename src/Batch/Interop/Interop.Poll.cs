using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
        internal static unsafe partial int Poll(PollFd* fds, nuint nfds, int timeoutMs);
    }
}
