namespace Perf.Batch;

/// <summary>What one or more send passes ended, and where the kernel pushed back (0: it did not).</summary>
internal struct SendProgress
{
    internal int Sent;
    internal int Failed;
    internal int WouldBlockErrno;
    internal SafeFdHandle? BlockedSocket; // the socket that pushed back: a pool socket under SocketPerPriority

    internal void Add(in SendProgress p)
    {
        Sent += p.Sent;
        Failed += p.Failed;
    }
}
