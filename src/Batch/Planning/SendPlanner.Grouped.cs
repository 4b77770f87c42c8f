using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

internal sealed unsafe partial class SendPlanner
{
    // Grouping plans: keys are (priority, destination), each with a representative slot for the destination compare.
    private readonly int[] _keyRep = new int[MaxGroups];
    private readonly uint[] _keyPriority = new uint[MaxGroups];
    private readonly int[] _keySlots = new int[MaxGroups];
    private readonly int[] _keyOrder = new int[MaxGroups];
    private byte[]? _keyOf; // per queue position in the window: its key
    private const int HintMask = 15;

    /// <summary>
    /// Gathers the queue by (priority, destination), order kept within each key, cuts each key's datagrams into GSO runs
    /// and lays the messages out key by key. Slots that ended in an earlier pass are skipped. Returns false, planning
    /// nothing, where gathering cannot beat ring order: one key and nothing ended ahead, or no runs and one send group.
    /// </summary>
    private bool PlanGrouped(long head, int pending)
    {
        Debug.Assert(!_queue.EndedEarly((int)head & _mask), "the send loop advances the head over ended slots before planning");
        byte[] keyOf = _keyOf ??= new byte[_mask + 1];
        Span<byte> hint = stackalloc byte[HintMask + 1]; // the last key seen per low priority bits: interleaved priorities hit it
        hint.Fill(byte.MaxValue);
        SlotQueue queue = _queue;
        bool anyDone = queue.AnyEndedEarly;
        int keys = 0;
        bool skipped = false;
        int window = 0;

        // Pass 1: each datagram's key, in order of first appearance; stop at a key past MaxGroups.
        for (; window < pending; window++)
        {
            int index = (int)(head + window) & _mask;
            if (anyDone && queue.EndedEarly(index))
            {
                skipped = true;
                keyOf[window] = byte.MaxValue;
                continue;
            }

            uint priority = _priorityKeyed ? _ring.GetPriority(index) : 0;
            int k = hint[(int)(priority & HintMask)];
            if (k >= keys || !IsKey(k, index, priority))
            {
                k = FindKey(index, priority, keys);
            }

            if (k < 0)
            {
                if (keys == MaxGroups)
                {
                    break;
                }

                k = keys++;
                _keyRep[k] = index;
                _keyPriority[k] = priority;
                _keySlots[k] = 0;
            }

            _keySlots[k]++;
            keyOf[window] = (byte)k;
            hint[(int)(priority & HintMask)] = (byte)k;
        }

        if (!skipped && (keys == 1 || (_maxSegments <= 1 && !_socketGroups)))
        {
            return false;
        }

        OrderKeys(keys);
        PlaceSlots(head, window, keys);
        CutMessages(keys);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsKey(int key, int index, uint priority) => _keyPriority[key] == priority && _ring.SameIpHeader(_keyRep[key], index);

    private int FindKey(int index, uint priority, int keys)
    {
        for (int k = 0; k < keys; k++)
        {
            if (IsKey(k, index, priority))
            {
                return k;
            }
        }

        return -1;
    }

    // Keys in appearance order; with socket groups, the keys of one priority next to each other, the priorities in the
    // order they first appeared (at most MaxGroups keys: quadratic is fine), so each priority is one send group.
    private void OrderKeys(int keys)
    {
        int[] order = _keyOrder;
        if (!_socketGroups)
        {
            for (int k = 0; k < keys; k++)
            {
                order[k] = k;
            }

            return;
        }

        int placed = 0;
        for (int k = 0; k < keys; k++)
        {
            if (Placed(k, placed))
            {
                continue;
            }

            for (int j = k; j < keys; j++)
            {
                if (_keyPriority[j] == _keyPriority[k])
                {
                    order[placed++] = j;
                }
            }
        }
    }

    private bool Placed(int key, int placed)
    {
        for (int i = 0; i < placed; i++)
        {
            if (_keyOrder[i] == key)
            {
                return true;
            }
        }

        return false;
    }

    // Pass 2: each key's slots in a contiguous range of _slots, in ring order; _msgFirst serves as the fill cursor per key.
    private void PlaceSlots(long head, int window, int keys)
    {
        int[] slots = _slots!;
        int[] cursor = _msgFirst!;
        int offset = 0;
        for (int o = 0; o < keys; o++)
        {
            int k = _keyOrder[o];
            cursor[k] = offset;
            offset += _keySlots[k];
        }

        byte[] keyOf = _keyOf!;
        for (int w = 0; w < window; w++)
        {
            int k = keyOf[w];
            if (k != byte.MaxValue)
            {
                slots[cursor[k]++] = (int)(head + w) & _mask;
            }
        }
    }

    // Pass 3: each key's slots cut into messages (GSO runs where they form), built in place; send groups over them.
    private void CutMessages(int keys)
    {
        int[] first = _msgFirst!;
        int[] count = _msgCount!;
        int messages = 0;
        int iov = 0;
        int position = 0;
        int groups = 0;
        for (int o = 0; o < keys; o++)
        {
            int k = _keyOrder[o];
            if (groups == 0 || (_socketGroups && _groupPriority[groups - 1] != _keyPriority[k]))
            {
                if (groups > 0)
                {
                    _groupEnd[groups - 1] = messages;
                }

                _groupPriority[groups] = _keyPriority[k];
                _groupFirst[groups] = messages;
                groups++;
            }

            int end = position + _keySlots[k];
            while (position < end)
            {
                int n = KeyRunLength(position, end);
                first[messages] = position;
                count[messages] = n;
                iov = BuildMessage(messages, iov, stage: true);
                position += n;
                messages++;
            }
        }

        _groupEnd[groups - 1] = messages;
        int full = 0;
        for (int k = 0; k < keys; k++)
        {
            full += _maxSegments <= 1 ? 1 : Math.Min(_maxSegments, MaxRunBytes / Math.Max(1, _ring.GetLength(_keyRep[k])));
        }

        FullRunWindow = full;
        Ordered = false;
        _direct = false;
        _groups = groups;
        PlannedMessages = messages;
        PlannedDatagrams = position;
    }
}
