using System.Runtime.InteropServices;

namespace Perf.Batch;

internal static partial class Interop
{
    internal const int PROT_READ = 0x1;
    internal const int PROT_WRITE = 0x2;
    internal const int MAP_SHARED = 0x01;
    internal const int MAP_PRIVATE = 0x02;
    internal const int MAP_POPULATE = 0x8000;
    internal const int MAP_ANONYMOUS = 0x20;

    internal static partial class Sys
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
        internal static unsafe partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

        [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
        internal static unsafe partial int Munmap(void* addr, nuint length);
    }
}
