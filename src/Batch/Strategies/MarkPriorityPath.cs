namespace Perf.Batch;

/// <summary>A SOL_SOCKET/SO_MARK cmsg on every datagram; the mark_to_priority classifier on the egress device copies it.</summary>
internal sealed class MarkPriorityPath : PriorityPath
{
    internal override int CmsgType => Interop.SO_MARK;
}
