// y7deploy lab: a minimal stand-in for OpenCV's imgproc.hpp.
#ifndef Y7LAB_OPENCV_IMGPROC_HPP
#define Y7LAB_OPENCV_IMGPROC_HPP
#include "core.hpp"
namespace cv {
void resize(const Mat& src, Mat& dst, Size size);
}
#endif
