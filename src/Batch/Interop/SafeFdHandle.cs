using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>Owns one file descriptor (socket, ring, eventfd) and closes it exactly once.</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle() : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    internal SafeFdHandle(int fd) : this() => SetHandle(fd);

    /// <summary>The raw descriptor. Only for requests that outlive a call and hold a DangerousAddRef.</summary>
    internal int Fd => (int)handle;

    // fd 0 is a valid descriptor; only -1 is invalid.
    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => Interop.Sys.Close((int)handle) == 0;
}
