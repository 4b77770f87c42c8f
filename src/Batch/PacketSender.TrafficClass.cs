namespace Perf.Batch;

// Enqueueing with a per-datagram DSCP and ECN (PacketSenderOptions.PerPacketTrafficClass).
public sealed partial class PacketSender
{
    /// <summary>Whether each datagram carries its own traffic class (<see cref="PacketSenderOptions.PerPacketTrafficClass"/>).</summary>
    public bool PerPacketTrafficClass => _trafficClass;

    /// <summary>
    /// Queues a copy of <paramref name="payload"/> with its own <paramref name="priority"/> and
    /// <paramref name="trafficClass"/> (the IPv4 TOS byte or IPv6 traffic class: DSCP in the upper six bits, ECN in the
    /// lower two) on a connected sender.
    /// </summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="InvalidOperationException">The sender was created without <see cref="PacketSenderOptions.PerPacketTrafficClass"/>.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority, byte trafficClass)
    {
        RequireTrafficClass();
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        return TryEnqueueCore(payload, priority, trafficClass, NoTxTime, in System.Runtime.CompilerServices.Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>As <see cref="TryEnqueue(ReadOnlySpan{byte}, uint, byte)"/>, to <paramref name="destination"/> on an unconnected sender.</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority, byte trafficClass, in DatagramAddress destination)
    {
        RequireTrafficClass();
        ValidateDestination(destination);
        return TryEnqueueCore(payload, priority, trafficClass, NoTxTime, in destination);
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> and <paramref name="trafficClass"/> (connected sender).</summary>
    public void Commit(int length, uint priority, byte trafficClass)
    {
        RequireTrafficClass();
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        CommitCore(length, priority, trafficClass, NoTxTime, in System.Runtime.CompilerServices.Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> and <paramref name="trafficClass"/> to <paramref name="destination"/>.</summary>
    public void Commit(int length, uint priority, byte trafficClass, in DatagramAddress destination)
    {
        RequireTrafficClass();
        ValidateDestination(destination);
        CommitCore(length, priority, trafficClass, NoTxTime, in destination);
    }

    private void RequireTrafficClass()
    {
        if (!_trafficClass)
        {
            ThrowHelper.ThrowInvalidOperation("This sender was created without PerPacketTrafficClass: its datagrams carry no traffic class of their own.");
        }
    }
}
