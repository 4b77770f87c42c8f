using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
        internal static unsafe partial nint RecvMsg(SafeFdHandle fd, MsgHdr* msg, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "recvmmsg", SetLastError = true)]
        internal static unsafe partial int RecvMMsg(SafeFdHandle fd, MMsgHdr* msgs, uint vlen, int flags, TimeSpec* timeout);
    }
}
