using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Sink;

/// <summary>How perfgen opens its receiving sockets.</summary>
internal static class Receivers
{
    /// <summary>
    /// Opens a receiver (inside <paramref name="netns"/> when given). With <paramref name="markIfNoPriority"/>, a kernel
    /// without SO_RCVPRIORITY (before 6.14) gets a receiver that reports the mark instead; a kernel with it never pays
    /// for a mark cmsg on every datagram it will not read.
    /// </summary>
    internal static PacketReceiver Open(PacketReceiverOptions options, bool markIfNoPriority, string? netns = null)
    {
        PacketReceiver rx = Create(options, netns);
        if (!markIfNoPriority || options.ReceiveMark || rx.ReportsPriority)
        {
            return rx;
        }

        rx.Dispose();
        return Create(new PacketReceiverOptions
        {
            LocalAddress = options.LocalAddress,
            BatchSize = options.BatchSize,
            MaxDatagramSize = options.MaxDatagramSize,
            ReceiveBufferSize = options.ReceiveBufferSize,
            ReceivePriority = false,
            ReceiveMark = true,
            ReceiveTrafficClass = options.ReceiveTrafficClass,
            Gro = options.Gro,
            ReusePort = options.ReusePort,
        }, netns);
    }

    private static PacketReceiver Create(PacketReceiverOptions options, string? netns) =>
        netns is null ? PacketReceiver.Create(options) : NetworkNamespace.Run(netns, () => PacketReceiver.Create(options));
}
