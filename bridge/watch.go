package bridge

import "github.com/spinwire/spinwire/stat"

// Watch registers the exporter in reg as name (stat.KindBridgeExport), so
// that spinstat shows its counters; close the Endpoint to remove it.
func (e *RawExporter) Watch(reg *stat.Registry, name string) (*stat.Endpoint, error) {
	return reg.Register(stat.KindBridgeExport, name, e.schema.Name, e.schema.Fingerprint, func(c *[stat.Counters]uint64) {
		st := e.Stats()
		c[0], c[1], c[2] = st.Messages, st.Batches, st.Lost
	})
}

// Watch registers the importer in reg as name (stat.KindBridgeImport).
func (im *RawImporter) Watch(reg *stat.Registry, name string) (*stat.Endpoint, error) {
	return reg.Register(stat.KindBridgeImport, name, im.schema.Name, im.schema.Fingerprint, func(c *[stat.Counters]uint64) {
		st := im.Stats()
		*c = [stat.Counters]uint64{st.Messages, st.Batches, st.Lost, st.Duplicates, st.Malformed, st.Mismatched, st.Forgotten, st.Errors}
	})
}

// Watch registers the service in reg as name (stat.KindBridgeService).
func (s *Service[Req, Resp]) Watch(reg *stat.Registry, name string) (*stat.Endpoint, error) {
	return reg.Register(stat.KindBridgeService, name, "", 0, func(c *[stat.Counters]uint64) {
		st := s.Stats()
		c[0], c[1], c[2] = st.Calls, st.Refused, st.Failed
	})
}
