using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// The one owner of which ring slots are queued: the enqueue ordinals of the head (the oldest datagram not yet ended)
/// and the tail (the next one), an outstanding reservation, and the slots past the head that ended out of ring order
/// (a plan that gathers by priority ends them early). The sender writes it; the planner and the send loop read it.
/// </summary>
/// <remarks>Not thread-safe: the sender's gate admits one call at a time.</remarks>
internal sealed class SlotQueue
{
    private readonly int _mask;
    private readonly bool[] _endedEarly;
    private long _head;
    private long _tail;
    private int _endedAhead;
    private bool _reserved;

    /// <param name="capacity">Slots in the ring, a power of two.</param>
    internal SlotQueue(int capacity)
    {
        Debug.Assert(capacity > 0 && (capacity & (capacity - 1)) == 0, "validated by the options");
        _mask = capacity - 1;
        _endedEarly = new bool[capacity];
    }

    /// <summary>Slots in the ring.</summary>
    internal int Capacity => _mask + 1;

    /// <summary>Enqueue ordinal of the oldest datagram not yet ended.</summary>
    internal long Head => _head;

    /// <summary>Enqueue ordinal the next datagram will get.</summary>
    internal long Tail => _tail;

    /// <summary>Slots from the head to the tail, those that ended early included: what a plan covers.</summary>
    internal int Span => (int)(_tail - _head);

    /// <summary>Datagrams queued and not yet ended.</summary>
    internal int Pending => (int)(_tail - _head) - _endedAhead;

    /// <summary>Whether nothing is queued.</summary>
    internal bool IsEmpty => _tail == _head;

    /// <summary>Whether some slot past the head ended early (a plan must skip it).</summary>
    internal bool AnyEndedEarly => _endedAhead != 0;

    /// <summary>Whether a slot is free for the next datagram.</summary>
    internal bool HasFreeSlot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _tail - _head <= _mask;
    }

    /// <summary>Whether a <see cref="Reserve"/> is outstanding.</summary>
    internal bool IsReserved => _reserved;

    /// <summary>The ring index of the tail: the slot the next datagram is written into.</summary>
    internal int TailIndex => (int)_tail & _mask;

    /// <summary>The ring index of an enqueue ordinal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int IndexOf(long sequence) => (int)sequence & _mask;

    /// <summary>The enqueue ordinal of a queued slot: the one ordinal in [head, head + capacity) at that index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long SequenceOf(int index) => _head + ((index - _head) & _mask);

    /// <summary>Whether the slot at <paramref name="index"/> ended ahead of the head.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool EndedEarly(int index) => _endedEarly[index];

    /// <summary>Takes the tail slot for writing in place.</summary>
    internal void Reserve()
    {
        Debug.Assert(!_reserved && HasFreeSlot, "checked by the caller");
        _reserved = true;
    }

    /// <summary>Gives the reservation back; nothing is queued.</summary>
    internal void CancelReservation() => _reserved = false;

    /// <summary>Queues the tail slot (reserved or just written).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Publish()
    {
        _reserved = false;
        _tail++;
    }

    /// <summary>Ends <paramref name="count"/> datagrams at the head, in ring order.</summary>
    internal void EndAtHead(int count)
    {
        Debug.Assert(count <= Pending, "a plan ends only queued datagrams");
        _head += count;
    }

    /// <summary>Marks a slot past the head as ended; <see cref="AdvanceOverEnded"/> moves the head over it later.</summary>
    internal void EndEarly(int index)
    {
        Debug.Assert(!_endedEarly[index], "a slot ends once");
        _endedEarly[index] = true;
        _endedAhead++;
    }

    /// <summary>Moves the head over the slots that ended early, up to the first that has not.</summary>
    internal void AdvanceOverEnded()
    {
        while (_head != _tail)
        {
            int index = (int)_head & _mask;
            if (!_endedEarly[index])
            {
                return;
            }

            _endedEarly[index] = false;
            _endedAhead--;
            _head++;
        }
    }

    /// <summary>Takes the head slot off the queue whether or not it was sent (teardown, a forwarder's shutdown).</summary>
    /// <returns>False where it had already ended early (nothing more to account for it).</returns>
    internal bool TakeHead(out int index)
    {
        Debug.Assert(!IsEmpty, "checked by the caller");
        index = (int)_head & _mask;
        _head++;
        if (_endedEarly[index])
        {
            _endedEarly[index] = false;
            _endedAhead--;
            return false;
        }

        return true;
    }
}
