// y7deploy lab: libopencv_core/libopencv_imgproc stand-in (the fixture's calibrator only).
#include "opencv2/imgproc.hpp"

namespace cv {
int getVersionMajor() { return 4; }
void resize(const Mat& src, Mat& dst, Size size) { (void)src; dst.rows = size.height; dst.cols = size.width; }
}  // namespace cv
