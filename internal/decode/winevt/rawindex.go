package winevt

import (
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
)

// winEvent is an event being normalized, with the first values of the raw fields
// Normalize reads.
type winEvent struct {
	*event.Event
	raw *rawIndex
}

// rawIndex holds the first value of each raw field Normalize reads (indexedKeys),
// found in one pass over e.Raw, so reading one costs a probe of a small table rather
// than a scan of e.Raw: a Winlogbeat event carries ~70 raw fields and Normalize reads
// ~20 of them, many absent.
type rawIndex struct {
	gen  uint32 // the pass the values in vals are from
	seen [maxIndexed]uint32
	vals [maxIndexed]string
}

// indexedKeys are the raw fields Normalize reads. A key outside the list is still
// read correctly, by a scan of e.Raw.
var indexedKeys = []event.Key{
	KeyEventID, KeyChannel, KeyProviderName, KeyComputer, KeyEventRecordID, KeyLevel,
	KeyKeywords, KeySecurityUserID,
	kImage, kProcessID, kProcessGuid, kCommandLine, kCurrentDirectory, kUser, kLogonID,
	kIntegrityLevel, kHashes, kHash, kParentImage, kParentProcessID, kParentProcessGuid,
	kParentCommandLine, kParentUser, kTargetFilename, kProtocol, kInitiated, kSourceIP,
	kSourceHostname, kSourcePort, kDestinationIP, kDestinationHostname, kDestinationPort,
	kImageLoaded, kSourceImage, kSourceProcessID, kSourceProcessGuid, kSourceProcessGUID,
	kSourceUser, kEventType, kTargetObject, kDetails, kPipeName, kQueryName, kQueryStatus,
	kQueryResults,
	kSubjectUserSid, kSubjectUserName, kSubjectDomainName, kSubjectLogonID, kTargetUserSid,
	kTargetSid, kTargetUserName, kTargetDomainName, kTargetLogonID, kLogonType,
	kWorkstationName, kWorkstation, kIPAddress, kIPPort, kProcessName, kNewProcessName,
	kNewProcessID, kParentProcessName, kMandatoryLabel, kMemberName, kMemberSid,
	kServiceName, kStatus, kSubStatus, kShareLocalPath, kRelativeTargetName, kTargetServerName,
	kParam1, kContextInfo, kPath, kThreatName, kDefProcessName, kDetectionUser,
}

const (
	maxIndexed   = 96
	keySlotsBits = 8 // a table of 256 slots for the keys: mostly one probe
)

// keySlot maps an indexed key to its position in rawIndex (pos 0: empty slot).
type keySlot struct {
	key event.Key
	pos uint8 // position + 1
}

// keySlots is the open-addressing table of indexedKeys. Read-only after init.
var keySlots = func() *[1 << keySlotsBits]keySlot {
	if len(indexedKeys) > maxIndexed {
		panic("winevt: more indexed keys than maxIndexed")
	}
	var t [1 << keySlotsBits]keySlot
	for i, k := range indexedKeys {
		h := keyHash(k)
		for t[h].pos != 0 && t[h].key != k {
			h = (h + 1) & (1<<keySlotsBits - 1)
		}
		t[h] = keySlot{key: k, pos: uint8(i + 1)}
	}
	return &t
}()

// keyHash is the slot of k: a hash of the address of its interned name, which is
// unique to it.
func keyHash(k event.Key) uint64 {
	p := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k.Value())))) // #nosec G103 -- only hashed
	return (p * 0x9E3779B97F4A7C15) >> (64 - keySlotsBits)
}

// slot returns the position of k in rawIndex, or -1 when it is not indexed.
func slot(k event.Key) int {
	for h := keyHash(k); ; h = (h + 1) & (1<<keySlotsBits - 1) {
		s := &keySlots[h]
		if s.pos == 0 {
			return -1
		}
		if s.key == k {
			return int(s.pos) - 1
		}
	}
}

// index notes the first value of each indexed raw field of e.
func (x *rawIndex) index(e *event.Event) {
	x.gen++
	if x.gen == 0 { // wrapped: values of 2^32 events ago would look current
		x.seen = [maxIndexed]uint32{}
		x.gen = 1
	}
	for i := range e.Raw {
		r := &e.Raw[i]
		if p := slot(r.Key); p >= 0 && x.seen[p] != x.gen {
			x.seen[p], x.vals[p] = x.gen, r.Value
		}
	}
}

// get returns the first value of raw field k, "" when absent.
func get(e winEvent, k event.Key) string {
	if p := slot(k); p >= 0 {
		if e.raw.seen[p] != e.raw.gen {
			return ""
		}
		return e.raw.vals[p]
	}
	v, _ := e.RawValue(k)
	return v
}
