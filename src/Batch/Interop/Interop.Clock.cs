using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal static partial class Sys
    {
        // glibc answers from the vDSO for CLOCK_TAI and CLOCK_MONOTONIC: no system call.
        [LibraryImport(Libraries.Libc, EntryPoint = "clock_gettime", SetLastError = true)]
        internal static unsafe partial int ClockGetTime(int clock, TimeSpec* now);
    }
}
