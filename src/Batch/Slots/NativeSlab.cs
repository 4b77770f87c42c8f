using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Native memory the kernel reads (slots, planned messages): whole anonymous pages from mmap, zeroed, and unmapped on
/// release rather than returned to a heap, so a late access through a stale pointer faults at once instead of reading
/// or writing memory that something else now owns.
/// </summary>
internal static unsafe class NativeSlab
{
    /// <summary>Maps <paramref name="bytes"/> (rounded up to whole pages), zeroed.</summary>
    /// <exception cref="PerfSocketException">mmap failed (ENOMEM).</exception>
    internal static byte* Allocate(nuint bytes)
    {
        void* p = Interop.Sys.Mmap(null, bytes, Interop.PROT_READ | Interop.PROT_WRITE, Interop.MAP_PRIVATE | Interop.MAP_ANONYMOUS, -1, 0);
        if (p == (void*)-1)
        {
            ThrowHelper.ThrowSocket("mmap(" + bytes.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bytes)", Marshal.GetLastPInvokeError());
        }

        return (byte*)p;
    }

    /// <summary>Unmaps what <see cref="Allocate"/> mapped; the same length.</summary>
    internal static void Free(void* p, nuint bytes)
    {
        if (p != null)
        {
            Interop.Sys.Munmap(p, bytes);
        }
    }
}
