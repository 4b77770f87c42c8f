using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Host;

/// <summary>Datagrams through the root qdisc of a pair's A end, each priority set per run (every kernel), to one or several flows.</summary>
internal static class QdiscTraffic
{
    /// <summary>Sends <paramref name="count"/> datagrams of 400 bytes; returns how many the sender sent.</summary>
    internal static long Send(VethPair net, PacketReceiver rx, int count, Func<int, uint> priority, int flows = 1)
    {
        using PacketSender tx = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = PriorityStrategy.SetsockoptPerRun,
            SendBufferSize = 4 << 20,
        }));
        byte[] payload = new byte[400];
        for (int i = 0; i < count; i++)
        {
            // Several flows: several destination ports (the ones nobody listens on answer ICMP, after the qdisc counted).
            var to = new DatagramAddress(rx.LocalAddress.ToIPAddress(), (ushort)(rx.LocalAddress.Port + (i % flows)));
            var info = new DatagramInfo(priority(i));
            while (!tx.TryEnqueue(payload, in info, in to))
            {
                tx.Flush();
            }
        }

        tx.Flush();
        return tx.Stats.Sent;
    }
}
