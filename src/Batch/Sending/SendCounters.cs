namespace Perf.Batch;

/// <summary>What a sender's send loop did: datagrams and bytes sent, calls, push-backs and GSO. The loop alone writes it.</summary>
internal sealed class SendCounters
{
    internal long Sent;
    internal long SentBytes;
    internal long SendCalls;
    internal long PartialSends;
    internal long WouldBlock;
    internal long SegmentedMessages;
    internal long SegmentedDatagrams;

    /// <summary>The errno (EIO or EINVAL) that turned segmentation off for good; 0 if none did.</summary>
    internal int SegmentationStoppedBy;
}
