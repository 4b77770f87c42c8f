namespace Perf.Batch;

/// <summary>
/// The one contract between the send loop and a kernel interface (sendmmsg, io_uring), so the loop does not
/// depend on which backend runs.
/// </summary>
internal abstract class SendBackend : IDisposable
{
    /// <summary>Returned in <c>results</c> for a slot the kernel accepted.</summary>
    internal const int Sent = 0;

    /// <summary>
    /// Sends the kernel messages <c>msgs[0, count)</c> (the planner's: the ring's own mmsghdr array, or messages it built
    /// over the slots) on <paramref name="socket"/> (the sender's own, or a SocketPerPriority pool socket).
    /// Returns how many leading messages reached a final state, writing each one's result (<see cref="Sent"/> or an errno)
    /// into <paramref name="results"/>. Returns 0 with <paramref name="wouldBlockErrno"/> = EAGAIN or ENOBUFS when the
    /// kernel pushed back before any message ended; the caller waits and calls again with the same messages.
    /// </summary>
    /// <remarks>Safety: the messages, and the iovecs and cmsgs they point at, stay valid until the call returns.</remarks>
    internal abstract unsafe int Send(SafeFdHandle socket, Interop.MMsgHdr* msgs, int count, Span<int> results, out int wouldBlockErrno);

    /// <summary>The backend's name in reports ("sendmmsg", "io_uring").</summary>
    internal abstract string Name { get; }

    internal abstract SendBackendKind Kind { get; }

    /// <summary>Most datagrams one GSO message may carry through this backend; 0 when it sets no limit of its own.</summary>
    internal virtual int MaxSegments => 0;

    /// <summary>Most memory pages one GSO message's payload may span through this backend; 0 when it sets no limit.</summary>
    internal virtual int MaxPages => 0;

    public abstract void Dispose();
}
