using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal const int CLONE_NEWNET = 0x40000000;

    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "setns", SetLastError = true)]
        internal static partial int SetNs(SafeHandle fd, int nstype);
    }
}
