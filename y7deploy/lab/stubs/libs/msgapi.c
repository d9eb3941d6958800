/* y7deploy lab: a DeepStream message-broker protocol adapter stand-in (nvds_msgapi).
 * It never connects anywhere; it exists so sink type 6 finds its proto lib. */
void* nvds_msgapi_connect(char* connection_str, void* connect_cb, char* config_path)
{ (void)connection_str; (void)connect_cb; (void)config_path; return 0; }
int nvds_msgapi_disconnect(void* h_ptr) { (void)h_ptr; return 0; }
char* nvds_msgapi_getversion(void) { return "4.0"; }
