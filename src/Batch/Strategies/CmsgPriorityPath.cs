namespace Perf.Batch;

/// <summary>A SOL_SOCKET/SO_PRIORITY cmsg on every datagram (Linux 6.14+): one socket, any mix in one call.</summary>
internal sealed class CmsgPriorityPath : PriorityPath
{
    internal override int CmsgType => Interop.SO_PRIORITY;
}
