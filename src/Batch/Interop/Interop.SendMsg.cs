using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
        internal static unsafe partial nint SendMsg(SafeFdHandle fd, MsgHdr* msg, int flags);

        /// <summary>Returns the number of messages sent; an error on message k &gt; 0 is not reported (KERNEL-NOTES).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sendmmsg", SetLastError = true)]
        internal static unsafe partial int SendMMsg(SafeFdHandle fd, MMsgHdr* msgs, uint vlen, int flags);
    }
}
