using System.Net;
using System.Net.Sockets;
using Perf.Batch;

namespace Perf.Tests.Infrastructure;

internal static class Loopback
{
    internal static IPAddress Address(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;

    /// <summary>
    /// A receiver on loopback that sees priorities as this kernel allows (<see cref="PriorityView"/>), with a receive
    /// buffer large enough for a test window.
    /// </summary>
    internal static PacketReceiver Receiver(AddressFamily family, int maxDatagram = 2048, bool gro = false)
    {
        PriorityView.Ensure();
        return PacketReceiver.Create(new PacketReceiverOptions
        {
            ReceiveMark = PriorityView.ThroughMark,
            LocalAddress = new DatagramAddress(Address(family), 0),
            BatchSize = 256,
            MaxDatagramSize = maxDatagram,
            ReceiveBufferSize = 32 << 20,
            Gro = gro,
        });
    }
}
