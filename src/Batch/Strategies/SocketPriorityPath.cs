namespace Perf.Batch;

/// <summary>Per-packet priority off: every datagram takes the socket's priority; the priority given is only recorded.</summary>
internal sealed class SocketPriorityPath : PriorityPath
{
}
